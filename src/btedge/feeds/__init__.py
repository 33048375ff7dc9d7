"""Data feeds: a fast DataFrame feed, a validating CSV loader and a cached Yahoo download."""
from btedge.feeds.frame import FrameData, index_to_num

__all__ = ["FrameData", "index_to_num"]
