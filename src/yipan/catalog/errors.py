from __future__ import annotations

from yipan.kernel.errors import Conflict, InvalidInput, NotFound


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


class UnsupportedImportFormat(InvalidInput):
    code = "UNSUPPORTED_IMPORT_FORMAT"
