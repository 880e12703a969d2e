from __future__ import annotations

from yipan.kernel.errors import Conflict, InvalidInput, NotFound, YipanError

# File-wide import errors are the kernel's, shared with every importer (same codes as before).
from yipan.kernel.errors import InvalidImportFile as InvalidImportFile
from yipan.kernel.errors import UnsupportedImportFormat as UnsupportedImportFormat


class UnknownMember(NotFound):
    code = "UNKNOWN_MEMBER"


class UnknownReview(NotFound):
    code = "UNKNOWN_REVIEW"


class UnknownMerge(NotFound):
    code = "UNKNOWN_MERGE"


class ReviewAlreadyResolved(Conflict):
    code = "REVIEW_ALREADY_RESOLVED"


class MergeAlreadyUndone(Conflict):
    code = "MERGE_ALREADY_UNDONE"


class MergeCannotBeUndone(Conflict):
    """The two sides of the merge are no longer in one member (split or erased since)."""

    code = "MERGE_CANNOT_BE_UNDONE"


class ErasedMember(Conflict):
    code = "MEMBER_ERASED"


class InvalidRecords(InvalidInput):
    code = "INVALID_RECORDS"


class InvalidLookup(InvalidInput):
    code = "INVALID_LOOKUP"


class InvalidBinding(InvalidInput):
    code = "INVALID_BINDING"


class MalformedRow(InvalidInput):
    code = "MALFORMED_ROW"


class DuplicateRecordInFile(InvalidInput):
    code = "DUPLICATE_RECORD_IN_FILE"


class PointsReferenceReused(Conflict):
    """A redemption or adjustment reference sent again with another number of points."""

    code = "POINTS_REFERENCE_REUSED"


class InvalidPointsAdjustment(InvalidInput):
    code = "INVALID_POINTS_ADJUSTMENT"


class IngestInterrupted(YipanError):
    """A batch ingest stopped part way: what was committed stays, running it again is safe."""

    code = "INGEST_INTERRUPTED"
    status = 500
