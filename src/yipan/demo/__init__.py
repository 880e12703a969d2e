"""The deterministic demo data set behind `yipan demo` and the benchmarks.

165 nodes of a fictional chain on real Chinese coordinates, about 2,000 SKUs, stock with the
skew the field sees, and the year before the build: about 100,000 members from three systems and
180,000 orders with their returns, points, promotions and coupons, all derived from one seed (and
the clock): `demo_nodes`, `demo_catalogue`, `plan_stock`, `demo_people` and `demo_history` are
pure; `build_demo` writes them through the services.
"""

from yipan.demo.build import DemoSummary, Progress, build_demo, demo_status, reset_database
from yipan.demo.catalogue import demo_catalogue
from yipan.demo.network import demo_nodes
from yipan.demo.stock import plan_stock

__all__ = [
    "DemoSummary",
    "Progress",
    "build_demo",
    "demo_catalogue",
    "demo_nodes",
    "demo_status",
    "plan_stock",
    "reset_database",
]
