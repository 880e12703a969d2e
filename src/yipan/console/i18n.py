"""The console's words in Simplified Chinese (the default) and English, and the language choice.

A dictionary per language rather than Babel: the console has a few hundred strings, no plural
forms beyond what `{n}` placeholders cover, and Babel is not a dependency. Every key exists in
both languages (a test checks it), so a missing translation is a test failure, not a blank label.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ZH = "zh-CN"
EN = "en"
DEFAULT_LANG = ZH
LANGS: dict[str, str] = {ZH: "中文", EN: "English"}
LANG_COOKIE = "yipan_lang"

Translate = Callable[..., str]

MESSAGES: dict[str, dict[str, str]] = {
    ZH: {
        "app.name": "一盘 控制台",
        "app.tagline": "人、货、场，一盘统管",
        "lang.label": "语言",
        "role.hq_admin": "总部管理员",
        "role.region_manager": "区域经理",
        "role.store_manager": "店长",
        "role.store_guide": "导购",
        "role.marketer": "营销",
        "role.planner": "计划员",
        "role.integrator": "系统集成",
        "login.title": "登录",
        "login.intro": "请输入用户名和密码登录一盘控制台。",
        "login.username": "用户名",
        "login.password": "密码",
        "login.submit": "登录",
        "login.wrong": "用户名或密码错误。",
        "login.locked": "登录失败次数过多，账户已锁定，请在 {time} 之后再试。",
        "login.form_expired": "登录表单已过期，请重新输入后再提交。",
        "logout.button": "退出登录",
        "nav.label": "主导航",
        "nav.dashboard": "总览",
        "nav.inventory": "库存",
        "nav.orders": "订单",
        "nav.members": "会员",
        "nav.marketing": "营销",
        "nav.store_desk": "门店工作台",
        "coming.title": "即将上线",
        "coming.dashboard": "全渠道关键指标：销售、库存健康、缺货与积压地区、待处理预警。",
        "coming.orders": "来自各渠道的订单流：寻源与路由说明、履约状态、取消与退换货。",
        "coming.members": "会员 360 视图：按手机号查找、全渠道消费历史、积分、等级、标签与分群。",
        "coming.marketing": "优惠券、促销与触发式营销活动，在所有渠道同样生效。",
        "coming.store_desk": "门店导购平板：查会员、代客下单、自提交接、线上订单退货。",
        "coming.meanwhile": "目前可以使用库存页面查看任一 SKU 在全网的库存。",
        "coming.go_inventory": "前往库存",
        "inventory.title": "库存",
        "inventory.intro": "输入 SKU 编码或条码，查看它在每个门店、仓库和配送中心的库存。",
        "inventory.search_label": "SKU 编码或条码",
        "inventory.search_placeholder": "例如 AP-0001-WHT-L",
        "inventory.search_button": "查询",
        "inventory.empty": "还没有查询。在上方输入 SKU 编码（或扫描条码）后点击“查询”。",
        "inventory.unknown_sku": (
            "找不到编码或条码为“{sku}”的 SKU。请检查拼写，或到商品目录中查找正确的编码。"
        ),
        "inventory.sku_too_long": "SKU 编码最长 64 个字符。",
        "inventory.bad_page": "页码必须是 1 到 {max} 之间的整数。",
        "inventory.page_past_end": "第 {page} 页不存在：共 {pages} 页。",
        "inventory.summary": "{held} 个节点持有该 SKU（共 {nodes} 个在营节点），可承诺量合计 {atp}。",
        "inventory.no_stock_anywhere": "目前没有任何节点持有该 SKU。收货入库后它会出现在这里。",
        "inventory.map_title": "节点库存健康分布",
        "inventory.map_hint": "每个点是一个在营节点，按经纬度摆放；颜色表示该 SKU 在此节点的库存健康。",
        "inventory.table_title": "各节点库存",
        "map.longitude": "经度",
        "map.latitude": "纬度",
        "col.node": "节点",
        "col.name": "名称",
        "col.type": "类型",
        "col.region": "省 / 市",
        "col.on_hand": "在库",
        "col.reserved": "已预留",
        "col.atp": "可承诺量",
        "col.safety_stock": "安全库存",
        "col.reorder_point": "再订货点",
        "col.health": "健康",
        "col.kind": "类型",
        "col.quantity": "数量",
        "col.reference": "单据",
        "col.channel": "渠道",
        "col.reason": "原因",
        "col.when": "发生时间",
        "health.out": "缺货",
        "health.low": "低于再订货点",
        "health.healthy": "健康",
        "health.surplus": "积压",
        "node.store": "门店",
        "node.distributor_store": "经销商门店",
        "node.warehouse": "仓库",
        "node.dc": "配送中心",
        "page.of": "第 {page} / {pages} 页",
        "page.prev": "上一页",
        "page.next": "下一页",
        "ledger.title": "库存流水",
        "ledger.heading": "{sku} 在 {node} 的流水",
        "ledger.on_hand": "当前在库：{on_hand}",
        "ledger.empty": "该 SKU 在此节点还没有任何库存变动。收货、销售、调拨或盘点后会记录在这里。",
        "ledger.older": "更早的流水",
        "ledger.newest": "回到最新",
        "ledger.back": "返回库存查询",
        "ledger.bad_before": "before 参数必须是正整数的流水编号。",
        "ledger.unknown_node": "找不到编码为“{node}”的节点。",
        "ledger.drill": "查看流水",
        "movement.receipt": "收货",
        "movement.sale": "销售",
        "movement.return": "退货",
        "movement.adjustment": "调整",
        "movement.count": "盘点",
        "movement.transfer_out": "调出",
        "movement.transfer_in": "调入",
        "movement.reservation_commit": "预留出库",
    },
    EN: {
        "app.name": "Yipan console",
        "app.tagline": "People, goods and places in one pool",
        "lang.label": "Language",
        "role.hq_admin": "HQ administrator",
        "role.region_manager": "Region manager",
        "role.store_manager": "Store manager",
        "role.store_guide": "Store guide",
        "role.marketer": "Marketer",
        "role.planner": "Planner",
        "role.integrator": "Integration",
        "login.title": "Log in",
        "login.intro": "Enter your username and password to use the Yipan console.",
        "login.username": "Username",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.wrong": "Wrong username or password.",
        "login.locked": "Too many failed logins: the account is locked until {time}. Try again then.",
        "login.form_expired": "The login form had expired. Enter your details again and send it.",
        "logout.button": "Log out",
        "nav.label": "Main navigation",
        "nav.dashboard": "Dashboard",
        "nav.inventory": "Inventory",
        "nav.orders": "Orders",
        "nav.members": "Members",
        "nav.marketing": "Marketing",
        "nav.store_desk": "Store desk",
        "coming.title": "Coming soon",
        "coming.dashboard": (
            "KPIs across every channel: sales, stock health, regions short of stock or "
            "holding too much, alerts to act on."
        ),
        "coming.orders": (
            "The order flow from every channel: sourcing and routing explanations, "
            "fulfilment status, cancellations, returns and exchanges."
        ),
        "coming.members": (
            "The member 360 view: look up by phone, history in every channel, points, tier, "
            "tags and segments."
        ),
        "coming.marketing": "Coupons, promotions and triggered campaigns valid in every channel.",
        "coming.store_desk": (
            "The store associate's tablet: find a member, order on their behalf, hand over "
            "pickups, take returns of online orders."
        ),
        "coming.meanwhile": "Meanwhile the Inventory page shows any SKU's stock across the pool.",
        "coming.go_inventory": "Go to Inventory",
        "inventory.title": "Inventory",
        "inventory.intro": (
            "Enter a SKU code or barcode to see its stock at every store, warehouse and DC."
        ),
        "inventory.search_label": "SKU code or barcode",
        "inventory.search_placeholder": "e.g. AP-0001-WHT-L",
        "inventory.search_button": "Search",
        "inventory.empty": (
            "Nothing searched yet. Type a SKU code (or scan a barcode) above and press Search."
        ),
        "inventory.unknown_sku": (
            "No SKU has the code or barcode “{sku}”. Check the spelling, or look the code up "
            "in the catalogue."
        ),
        "inventory.sku_too_long": "A SKU code has at most 64 characters.",
        "inventory.bad_page": "The page must be a whole number from 1 to {max}.",
        "inventory.page_past_end": "There is no page {page}: there are {pages}.",
        "inventory.summary": (
            "{held} nodes hold this SKU (of {nodes} active nodes); {atp} available to promise "
            "in all."
        ),
        "inventory.no_stock_anywhere": (
            "No node holds this SKU yet. It appears here once a receipt brings it in."
        ),
        "inventory.map_title": "Stock health by node",
        "inventory.map_hint": (
            "Each dot is an active node placed by longitude and latitude, coloured by the "
            "health of this SKU's stock there."
        ),
        "inventory.table_title": "Stock by node",
        "map.longitude": "Longitude",
        "map.latitude": "Latitude",
        "col.node": "Node",
        "col.name": "Name",
        "col.type": "Type",
        "col.region": "Province / city",
        "col.on_hand": "On hand",
        "col.reserved": "Reserved",
        "col.atp": "ATP",
        "col.safety_stock": "Safety stock",
        "col.reorder_point": "Reorder point",
        "col.health": "Health",
        "col.kind": "Kind",
        "col.quantity": "Quantity",
        "col.reference": "Reference",
        "col.channel": "Channel",
        "col.reason": "Reason",
        "col.when": "When",
        "health.out": "Out of stock",
        "health.low": "Below reorder point",
        "health.healthy": "Healthy",
        "health.surplus": "Surplus",
        "node.store": "Store",
        "node.distributor_store": "Distributor store",
        "node.warehouse": "Warehouse",
        "node.dc": "DC",
        "page.of": "Page {page} of {pages}",
        "page.prev": "Previous",
        "page.next": "Next",
        "ledger.title": "Stock ledger",
        "ledger.heading": "Ledger of {sku} at {node}",
        "ledger.on_hand": "On hand now: {on_hand}",
        "ledger.empty": (
            "This SKU has no stock movements at this node yet. Receipts, sales, transfers and "
            "counts are recorded here."
        ),
        "ledger.older": "Older movements",
        "ledger.newest": "Back to the newest",
        "ledger.back": "Back to the stock search",
        "ledger.bad_before": "`before` must be a positive movement id.",
        "ledger.unknown_node": "No node has the code “{node}”.",
        "ledger.drill": "Ledger",
        "movement.receipt": "Receipt",
        "movement.sale": "Sale",
        "movement.return": "Return",
        "movement.adjustment": "Adjustment",
        "movement.count": "Count",
        "movement.transfer_out": "Transfer out",
        "movement.transfer_in": "Transfer in",
        "movement.reservation_commit": "Reserved goods out",
    },
}


def pick_lang(requested: str | None) -> str:
    """The language a cookie (or query) asks for, if the console speaks it; else the default."""
    return requested if requested in MESSAGES else DEFAULT_LANG


def translator(lang: str) -> Translate:
    """`t(key, **values)` for one language; an unknown key shows itself so it is easy to spot."""
    messages = MESSAGES[pick_lang(lang)]

    def t(key: str, **values: Any) -> str:
        text = messages.get(key, key)
        return text.format(**values) if values else text

    return t


def label(t: Translate, prefix: str, value: str) -> str:
    """A translated name for a stored code (a node type, a movement kind), or the code itself."""
    key = f"{prefix}.{value}"
    text = t(key)
    return value if text == key else text
