from __future__ import annotations

from yipan.kernel.errors import Conflict, InvalidInput, NotFound

# File-wide import errors are the kernel's, shared with every importer (same codes as before).
from yipan.kernel.errors import InvalidImportFile as InvalidImportFile
from yipan.kernel.errors import UnsupportedImportFormat as UnsupportedImportFormat


class UnknownSku(NotFound):
    code = "UNKNOWN_SKU"


class UnknownCategory(NotFound):
    code = "UNKNOWN_CATEGORY"


class UnknownProduct(NotFound):
    code = "UNKNOWN_PRODUCT"


class DuplicateBarcode(Conflict):
    code = "DUPLICATE_BARCODE"


class InvalidSku(InvalidInput):
    code = "INVALID_SKU"


class InvalidBarcode(InvalidInput):
    code = "INVALID_BARCODE"


class InvalidPrice(InvalidInput):
    code = "INVALID_PRICE"


class MalformedRow(InvalidInput):
    """One row could not be read at all (bad JSON, wrong number of CSV cells)."""

    code = "MALFORMED_ROW"


class DuplicateSkuInFile(Conflict):
    """A SKU code appears twice in one import: the later row would silently undo the earlier."""

    code = "DUPLICATE_SKU_IN_FILE"


class UnknownSkuRef(InvalidInput):
    """A request body names a SKU the catalogue does not have."""

    code = "UNKNOWN_SKU"


class UnknownPriceException(NotFound):
    code = "UNKNOWN_PRICE_EXCEPTION"


class OverlappingPriceException(Conflict):
    """Another exception of the same SKU and scope is in force for part of the same time."""

    code = "OVERLAPPING_PRICE_EXCEPTION"


class InvalidReportWindow(InvalidInput):
    code = "INVALID_REPORT_WINDOW"
