"""Every context's tables on one metadata, for migrations and test set-up."""

from yipan.auth import models as auth_models
from yipan.catalog import models as catalog_models
from yipan.channels import models as channels_models
from yipan.events import models as events_models
from yipan.insights import models as insights_models
from yipan.inventory import models as inventory_models
from yipan.kernel.db import Base
from yipan.members import models as members_models
from yipan.orders import models as orders_models
from yipan.promotions import models as promotions_models

metadata = Base.metadata

__all__ = [
    "auth_models",
    "catalog_models",
    "channels_models",
    "events_models",
    "insights_models",
    "inventory_models",
    "members_models",
    "metadata",
    "orders_models",
    "promotions_models",
]
