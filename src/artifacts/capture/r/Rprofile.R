# sandboxd plot capture for R, loaded as R_PROFILE_USER (only for runs of sandboxes with
# capture on). Every graphics device the program opens implicitly is a png device writing
# one file per page into SANDBOXD_CAPTURE_DIR: base graphics, ggplot2 and lattice pages all
# become plots. htmlwidgets (plotly) printed at top level become self-contained HTML.
# Nothing is printed; the user's own .Rprofile still runs.
local({
  dir <- Sys.getenv("SANDBOXD_CAPTURE_DIR")
  Sys.unsetenv(c("SANDBOXD_CAPTURE_DIR", "R_PROFILE_USER"))
  for (f in c(".Rprofile", file.path(Sys.getenv("HOME"), ".Rprofile"))) {
    if (file.exists(f)) {
      try(sys.source(f, envir = globalenv()), silent = TRUE)
      break
    }
  }
  if (!nzchar(dir)) return(invisible())
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  devices <- 0L
  options(device = function(...) {
    devices <<- devices + 1L
    grDevices::png(file.path(dir, sprintf("Rplot-%03d-%%04d.png", devices)), width = 800, height = 600, res = 100)
  })
  widgets <- 0L
  save_widget <- function(x, ...) {
    widgets <<- widgets + 1L
    # Named to sort right after the page being drawn now (or the last page written), so
    # the daemon announces plots in the order the program made them.
    written <- length(list.files(dir, pattern = sprintf("^Rplot-%03d-[0-9]+[.]png$", devices)))
    drawing <- devices > 0L && grDevices::dev.cur() > 1L
    file <- file.path(dir, sprintf("Rplot-%03d-%04d~w%03d.html", devices, written + drawing, widgets))
    try({
      tags <- htmltools::renderTags(htmltools::as.tags(x, standalone = TRUE))
      deps <- htmltools::resolveDependencies(tags$dependencies)
      inline <- character()
      for (d in deps) {
        src <- d$src$file
        if (is.null(src)) next
        if (!is.null(d$package)) src <- system.file(src, package = d$package)
        for (s in d$stylesheet) inline <- c(inline, "<style>", readLines(file.path(src, s), warn = FALSE), "</style>")
        for (s in d$script) {
          if (is.list(s)) s <- s$src
          inline <- c(inline, "<script>", readLines(file.path(src, s), warn = FALSE), "</script>")
        }
      }
      writeLines(c("<!DOCTYPE html>", "<html>", "<head>", "<meta charset=\"utf-8\"/>", inline, as.character(tags$head),
                   "</head>", "<body>", as.character(tags$html), "</body>", "</html>"), file, useBytes = TRUE)
    }, silent = TRUE)
    invisible(x)
  }
  register <- function(...) {
    try(registerS3method("print", "htmlwidget", save_widget, envir = asNamespace("htmlwidgets")), silent = TRUE)
  }
  setHook(packageEvent("htmlwidgets", "onLoad"), register)
  if ("htmlwidgets" %in% loadedNamespaces()) register()
})
