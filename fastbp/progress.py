"""Progress reporting for fit(verbose=1): a tqdm bar when tqdm is installed, printed lines otherwise.

tqdm is imported at the first verbose fit, not with fastbp: its import would be part of every
cold start (docs/decisions.md).
"""
_UNSET = object()
tqdm = _UNSET  # tqdm.auto.tqdm once looked up, None when it is not installed


def _tqdm():
    global tqdm
    if tqdm is _UNSET:
        try:
            from tqdm.auto import tqdm as bar
        except ImportError:  # tqdm is optional (pip install fastbp[progress])
            bar = None
        tqdm = bar
    return tqdm


class Progress:
    """Context manager updated after each compiled chunk of epochs (or, ``unit="network"``, each
    network of a sweep); silent when verbose is 0."""

    def __init__(self, epochs, verbose, unit="epoch"):
        self.epochs = epochs
        self.verbose = verbose
        self.unit = unit
        self.done = 0
        self.bar = None

    def __enter__(self):
        if self.verbose and _tqdm() is not None:
            self.bar = tqdm(total=self.epochs, unit=self.unit)
        return self

    def update(self, count, history):
        self.done += count
        if not self.verbose or not history["loss"]:
            return
        shown = {"loss": f"{history['loss'][-1]:.4f}"}
        if history.get("accuracy"):
            shown["acc"] = f"{history['accuracy'][-1]:.1%}"
        if history.get("val_loss"):
            shown["val_loss"] = f"{history['val_loss'][-1]:.4f}"
        if self.bar is not None:
            self.bar.update(count)
            self.bar.set_postfix(**shown)
        else:
            print(f"{self.unit} {self.done:>6d}/{self.epochs}: "
                  + ", ".join(f"{name}={value}" for name, value in shown.items()))

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False
