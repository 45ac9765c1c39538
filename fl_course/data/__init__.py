"""Real data sets for the course, with their real download code and offline fall-backs."""
from fl_course.data.mnist import DataFileError, OfflineSplitWarning, load_mnist

__all__ = ["load_mnist", "DataFileError", "OfflineSplitWarning"]
