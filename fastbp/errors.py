"""The errors and warnings fastbp raises beyond ValueError and TypeError."""


class CompileCacheWarning(UserWarning):
    """The compiled kernels cannot be cached on disk: every new process compiles them again."""


class TrainingDivergedError(FloatingPointError):
    """Training produced a NaN/inf loss or parameter; the network was restored to its last finite state.

    ``history`` holds the epochs recorded before the failure (full batch: with an update that
    failed, its epoch's loss too); ``epoch`` is the index (from 0) of the epoch that failed.
    """

    def __init__(self, message, history, epoch):
        super().__init__(message)
        self.history = history
        self.epoch = epoch
