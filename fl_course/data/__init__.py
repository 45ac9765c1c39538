"""Real data sets for the course, with their real download code and offline fall-backs."""

from fl_course.data.lending_club import LendingClubFileError, load_lending_club
from fl_course.data.mnist import DataFileError, OfflineSplitWarning, load_mnist

__all__ = [
    "load_mnist",
    "load_lending_club",
    "DataFileError",
    "LendingClubFileError",
    "OfflineSplitWarning",
]
