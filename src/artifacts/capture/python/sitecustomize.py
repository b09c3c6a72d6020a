# sandboxd plot capture. Put on PYTHONPATH (only for runs of sandboxes with capture on),
# it is imported by `site` at start-up. It costs one import-hook lookup per import and
# imports nothing itself: matplotlib, plotly and bokeh are patched only when the program
# imports them. Every plot is written to SANDBOXD_CAPTURE_DIR with one line in
# manifest.tsv; the daemon collects them when the run ends. Nothing is printed, ever.
import os as _os
import sys as _sys

_HOOK_DIR = _os.path.dirname(_os.path.abspath(__file__))
_DIR = _os.environ.pop("SANDBOXD_CAPTURE_DIR", "")


def _restore_environment():
    # Leave the program the environment and sys.path it would have had without us.
    pp = _os.environ.get("PYTHONPATH", "")
    parts = [p for p in pp.split(_os.pathsep) if p and _os.path.abspath(p) != _HOOK_DIR]
    if parts:
        _os.environ["PYTHONPATH"] = _os.pathsep.join(parts)
    else:
        _os.environ.pop("PYTHONPATH", None)
    _sys.path[:] = [p for p in _sys.path if not p or _os.path.abspath(p) != _HOOK_DIR]


def _chain_site_customize():
    # Run the sitecustomize we shadow (Debian's, a virtualenv's), if any.
    for entry in _sys.path:
        candidate = _os.path.join(entry or ".", "sitecustomize.py")
        if entry and _os.path.isfile(candidate) and _os.path.dirname(_os.path.abspath(candidate)) != _HOOK_DIR:
            try:
                with open(candidate, "rb") as f:
                    code = compile(f.read(), candidate, "exec")
                exec(code, {"__name__": "sitecustomize", "__file__": candidate, "__builtins__": __builtins__})
            except Exception:
                pass
            return


class _Capture:
    """Writes captured plots into the spool directory, numbered in order of capture."""

    MIME = {
        "png": "image/png",
        "svg": "image/svg+xml",
        "pdf": "application/pdf",
        "jpeg": "image/jpeg",
        "html": "text/html",
        "webp": "image/webp",
        "eps": "application/postscript",
    }

    def __init__(self, directory):
        self.directory = directory
        self.seq = 0
        self._lock = None
        self._pid = _os.getpid()

    def lock(self):
        if self._lock is None:
            import threading

            self._lock = threading.Lock()
        return self._lock

    @staticmethod
    def normalize_format(fmt):
        fmt = (fmt or "png").lower().lstrip(".")
        return {"jpg": "jpeg", "htm": "html", "svgz": "svg"}.get(fmt, fmt)

    def add(self, fmt, write, width=0, height=0, dpi=0, source=""):
        """write(path) produces the file; returns nothing. Failures are swallowed."""
        fmt = self.normalize_format(fmt)
        try:
            with self.lock():
                _os.makedirs(self.directory, exist_ok=True)
                self.seq += 1
                # A forked child (multiprocessing) shares the spool: its names carry its pid.
                pid = _os.getpid()
                name = "%04d.%s" % (self.seq, fmt) if pid == self._pid else "%04d-%d.%s" % (self.seq, pid, fmt)
                path = _os.path.join(self.directory, name)
                write(path + ".part")
                _os.replace(path + ".part", path)
                if fmt == "png":
                    width, height = _png_size(path) or (width, height)
                line = "\t".join(
                    [name, fmt, self.MIME.get(fmt, "application/octet-stream"), str(int(width or 0)), str(int(height or 0)), str(int(dpi or 0)), source]
                )
                with open(_os.path.join(self.directory, "manifest.tsv"), "a") as f:
                    f.write(line + "\n")
        except Exception:
            pass

    def add_copy(self, src, fmt, **meta):
        import shutil

        self.add(fmt, lambda dst: shutil.copyfile(src, dst), **meta)

    def add_text(self, text, fmt, **meta):
        def write(dst):
            with open(dst, "w", encoding="utf-8") as f:
                f.write(text)

        self.add(fmt, write, **meta)


def _png_size(path):
    try:
        with open(path, "rb") as f:
            head = f.read(24)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    except OSError:
        pass
    return None


def _path_of(target):
    """The filesystem path of a savefig/write_html target, or None for file objects."""
    if isinstance(target, (str, bytes)) or hasattr(target, "__fspath__"):
        return _os.fsdecode(_os.fspath(target))
    return None


# ---- matplotlib (and seaborn, which draws through it) -------------------------------


def _patch_matplotlib(mpl):
    # Agg unless the program's environment chose a backend: headless, and what
    # get_backend() reports is the standard 'agg'.
    if "MPLBACKEND" not in _os.environ:
        try:
            mpl.use("Agg")
        except Exception:
            pass


def _figure_dpi(fig, kwargs):
    dpi = kwargs.get("dpi")
    if dpi in (None, "figure"):
        import matplotlib

        dpi = matplotlib.rcParams.get("savefig.dpi", "figure")
        if dpi == "figure":
            dpi = fig.dpi
    return float(dpi)


def _capture_figure(fig, source, original_savefig):
    if not fig.get_axes() and not fig.artists and not fig.images and not fig.texts:
        return
    dpi = _figure_dpi(fig, {})
    w, h = fig.get_size_inches()
    _CAPTURE.add("png", lambda dst: original_savefig(fig, dst, format="png"), w * dpi, h * dpi, dpi, source)
    fig._sandboxd_captured = True


def _patch_figure_module(figure_module):
    Figure = figure_module.Figure
    if getattr(Figure, "_sandboxd_patched", False):
        return
    original_savefig = Figure.savefig
    original_show = Figure.show

    def savefig(self, fname, *args, **kwargs):
        result = original_savefig(self, fname, *args, **kwargs)
        try:
            import matplotlib

            path = _path_of(fname)
            fmt = kwargs.get("format")
            if not fmt and path:
                ext = _os.path.splitext(path)[1]
                fmt = ext[1:] if ext else None
            fmt = _Capture.normalize_format(fmt or matplotlib.rcParams.get("savefig.format", "png"))
            dpi = _figure_dpi(self, kwargs)
            w, h = self.get_size_inches()
            if path and not _os.path.splitext(path)[1] and not kwargs.get("format"):
                path = path + "." + matplotlib.rcParams.get("savefig.format", "png")
            if path and _os.path.isfile(path):
                _CAPTURE.add_copy(path, fmt, width=w * dpi, height=h * dpi, dpi=dpi, source="savefig")
            else:
                # Saved to a file object: render the same figure once more for the capture.
                kw = dict(kwargs)
                kw["format"] = fmt
                _CAPTURE.add(fmt, lambda dst: original_savefig(self, dst, *args, **kw), w * dpi, h * dpi, dpi, "savefig")
            self._sandboxd_captured = True
        except Exception:
            pass
        return result

    def show(self, *args, **kwargs):
        # Agg cannot show; capture instead of warning on stderr.
        try:
            _capture_figure(self, "show", original_savefig)
        except Exception:
            pass

    Figure.savefig = savefig
    Figure.show = show
    Figure._sandboxd_patched = True
    Figure._sandboxd_original_savefig = staticmethod(original_savefig)


def _patch_pyplot(plt):
    import matplotlib.figure

    _patch_figure_module(matplotlib.figure)
    original_savefig = matplotlib.figure.Figure._sandboxd_original_savefig

    def show(*args, **kwargs):
        # Like a notebook: every open figure is captured, then closed.
        try:
            for num in list(plt.get_fignums()):
                _capture_figure(plt.figure(num), "show", original_savefig)
            plt.close("all")
        except Exception:
            pass

    show.__doc__ = plt.show.__doc__
    plt.show = show

    import atexit

    def capture_open_figures():
        # Figures still open at the end (never shown) are plots too, unless already saved.
        try:
            for num in list(plt.get_fignums()):
                fig = plt.figure(num)
                if not getattr(fig, "_sandboxd_captured", False):
                    _capture_figure(fig, "exit", original_savefig)
        except Exception:
            pass

    atexit.register(capture_open_figures)


# ---- plotly ---------------------------------------------------------------------------


def _patch_plotly_io(pio):
    from plotly.io import _html, _kaleido  # noqa: F401  (resolve the lazy module)

    original_write_html = _html.write_html
    original_write_image = getattr(_kaleido, "write_image", None)

    def _size(fig):
        try:
            layout = fig.layout
            return int(layout.width or 0), int(layout.height or 0)
        except Exception:
            return 0, 0

    def show(fig, *args, **kwargs):
        # No browser, no renderer: the figure becomes an HTML artifact.
        try:
            w, h = _size(fig)
            _CAPTURE.add_text(_html.to_html(fig, include_plotlyjs="cdn", full_html=True), "html", width=w, height=h, source="show")
        except Exception:
            pass

    def write_html(fig, file, *args, **kwargs):
        result = original_write_html(fig, file, *args, **kwargs)
        try:
            w, h = _size(fig)
            path = _path_of(file)
            if path and _os.path.isfile(path):
                _CAPTURE.add_copy(path, "html", width=w, height=h, source="write_html")
            else:
                _CAPTURE.add_text(_html.to_html(fig, include_plotlyjs="cdn", full_html=True), "html", width=w, height=h, source="write_html")
        except Exception:
            pass
        return result

    pio.show = show
    pio.write_html = write_html
    try:
        import plotly.io._renderers as renderers

        renderers.show = show
    except Exception:
        pass

    if original_write_image is not None:

        def write_image(fig, file, format=None, *args, **kwargs):
            # Needs kaleido; without it the original raises and nothing is captured.
            result = original_write_image(fig, file, format, *args, **kwargs)
            try:
                path = _path_of(file)
                fmt = format or (_os.path.splitext(path)[1][1:] if path else "png") or "png"
                w, h = _size(fig)
                if path and _os.path.isfile(path):
                    _CAPTURE.add_copy(path, fmt, width=w, height=h, source="write_image")
            except Exception:
                pass
            return result

        pio.write_image = write_image


# ---- bokeh ----------------------------------------------------------------------------


def _patch_bokeh_io(bio):
    import bokeh.io.saving as saving
    import bokeh.io.showing as showing

    original_save = saving.save

    def show(obj, *args, **kwargs):
        # No browser: the document becomes an HTML artifact (BokehJS from the CDN).
        try:
            from bokeh.embed import file_html
            from bokeh.resources import CDN

            w = int(getattr(obj, "width", 0) or 0)
            h = int(getattr(obj, "height", 0) or 0)
            _CAPTURE.add_text(file_html(obj, CDN, "Bokeh Plot"), "html", width=w, height=h, source="show")
        except Exception:
            pass

    def save(obj, *args, **kwargs):
        result = original_save(obj, *args, **kwargs)
        try:
            path = _path_of(result)
            if path and _os.path.isfile(path):
                w = int(getattr(obj, "width", 0) or 0)
                h = int(getattr(obj, "height", 0) or 0)
                _CAPTURE.add_copy(path, "html", width=w, height=h, source="save")
        except Exception:
            pass
        return result

    for module in (bio, showing):
        module.show = show
    for module in (bio, saving):
        module.save = save


# ---- import hook ------------------------------------------------------------------------

_PATCHES = {
    "matplotlib": _patch_matplotlib,
    "matplotlib.figure": _patch_figure_module,
    "matplotlib.pyplot": _patch_pyplot,
    "plotly.io": _patch_plotly_io,
    "bokeh.io": _patch_bokeh_io,
}


class _PatchingLoader:
    def __init__(self, inner, name):
        self._inner = inner
        self._name = name

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        try:
            _PATCHES[self._name](module)
        except Exception:
            pass

    def __getattr__(self, attr):
        return getattr(self._inner, attr)


class _PatchingFinder:
    """Finds nothing itself; wraps the loader of the few modules it patches."""

    _busy = set()

    def find_spec(self, name, path=None, target=None):
        if name not in _PATCHES or name in self._busy:
            return None
        self._busy.add(name)
        try:
            import importlib.util

            spec = importlib.util.find_spec(name)
        except Exception:
            return None
        finally:
            self._busy.discard(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _PatchingLoader(spec.loader, name)
        return spec

    def invalidate_caches(self):
        pass


_restore_environment()
if _DIR:
    _CAPTURE = _Capture(_DIR)
    _sys.meta_path.insert(0, _PatchingFinder())
_chain_site_customize()
