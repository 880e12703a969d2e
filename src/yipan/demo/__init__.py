"""The deterministic demo data set behind `yipan demo` and the benchmarks.

165 nodes of a fictional chain on real Chinese coordinates, about 2,000 SKUs, and stock with the
skew the field sees, all derived from one seed: `demo_nodes`, `demo_catalogue` and `plan_stock`
are pure; `build_demo` writes them through the services.
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
