"""What the demo chain sells: brands, garments, shoe types, appliances and daily goods.

Plain data for `catalogue`, which turns it into SKUs. Brands and GS1 company numbers are made up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Brand:
    name: str
    gs1_company: str  # five digits after the country prefix 69


APPAREL_BRANDS = (Brand("禾木", "21873"), Brand("青檬", "21874"))
SHOE_BRANDS = (Brand("步履", "30512"),)
APPLIANCE_BRANDS = (Brand("暖居", "45268"), Brand("鲸厨", "45269"))
FOOD_BRANDS = (Brand("鲜日子", "58931"), Brand("田野记", "58933"))
CARE_BRANDS = (Brand("洁简", "58932"), Brand("沐光", "58934"))

COLOURS: dict[str, str] = {
    "白色": "WHT",
    "黑色": "BLK",
    "藏青": "NVY",
    "浅灰": "GRY",
    "卡其": "KHK",
    "酒红": "RED",
    "墨绿": "GRN",
    "燕麦色": "OAT",
    "雾霾蓝": "BLU",
    "樱花粉": "PNK",
    "米白": "CRM",
    "牛仔蓝": "DNM",
}
ADULT_SIZES = ("S", "M", "L", "XL", "XXL")
WOMEN_SIZES = ("S", "M", "L", "XL")
KIDS_SIZES = ("110", "120", "130", "140", "150")
# How a style's sales spread over its sizes.
SIZE_CURVE = {"S": 0.5, "M": 0.9, "L": 1.0, "XL": 0.75, "XXL": 0.4}
MEN_SHOE_SIZES = ("39", "40", "41", "42", "43", "44")
WOMEN_SHOE_SIZES = ("35", "36", "37", "38", "39", "40")
KIDS_SHOE_SIZES = ("28", "30", "32", "34")


@dataclass(frozen=True)
class Garment:
    name: str
    category: str
    category_name: str
    prices: tuple[int, ...]
    modifiers: tuple[str, ...]
    genders: tuple[str, ...] = ("男士", "女士")


_TOPS = ("纯棉", "宽松", "修身", "重磅", "凉感", "华夫格", "莫代尔", "印花", "条纹", "基础款")
_OUTER = ("轻薄", "连帽", "立领", "中长款", "短款", "防泼水")
_BOTTOMS = ("弹力", "水洗", "高腰", "九分", "束脚", "冰丝")

GARMENTS = (
    Garment(
        "圆领短袖T恤", "apparel-tee", "T恤", (5900, 7900, 9900), _TOPS, ("男士", "女士", "儿童")
    ),
    Garment("长袖T恤", "apparel-tee", "T恤", (7900, 9900, 12900), _TOPS),
    Garment("POLO衫", "apparel-polo", "POLO衫", (12900, 15900, 19900), _TOPS[:6]),
    Garment(
        "长袖衬衫",
        "apparel-shirt",
        "衬衫",
        (15900, 19900, 25900),
        ("纯棉", "免烫", "牛津纺", "亚麻", "条纹", "法式"),
    ),
    Garment(
        "连帽卫衣",
        "apparel-sweat",
        "卫衣",
        (15900, 19900, 25900),
        ("加绒", "宽松", "重磅", "印花", "基础款"),
        ("男士", "女士", "儿童"),
    ),
    Garment(
        "圆领卫衣",
        "apparel-sweat",
        "卫衣",
        (12900, 15900, 19900),
        ("加绒", "宽松", "华夫格", "基础款"),
    ),
    Garment(
        "针织开衫",
        "apparel-knit",
        "针织衫",
        (19900, 25900, 29900),
        ("羊毛混纺", "宽松", "短款", "V领"),
    ),
    Garment("羊绒衫", "apparel-knit", "针织衫", (39900, 49900, 59900), ("圆领", "高领", "V领")),
    Garment(
        "羽绒服",
        "apparel-down",
        "羽绒服",
        (49900, 69900, 89900),
        ("轻薄", "连帽", "中长款", "短款"),
        ("男士", "女士", "儿童"),
    ),
    Garment("休闲夹克", "apparel-jacket", "夹克外套", (29900, 39900), _OUTER),
    Garment("风衣", "apparel-jacket", "夹克外套", (49900, 59900), ("中长款", "短款", "防泼水")),
    Garment("直筒牛仔裤", "apparel-pants", "裤装", (19900, 25900), _BOTTOMS),
    Garment("休闲长裤", "apparel-pants", "裤装", (15900, 19900), _BOTTOMS),
    Garment(
        "运动短裤",
        "apparel-pants",
        "裤装",
        (7900, 9900),
        ("速干", "冰丝", "宽松"),
        ("男士", "女士", "儿童"),
    ),
    Garment("阔腿裤", "apparel-pants", "裤装", (17900, 22900), ("高腰", "垂感", "冰丝"), ("女士",)),
    Garment(
        "连衣裙",
        "apparel-dress",
        "裙装",
        (25900, 35900, 45900),
        ("碎花", "法式", "针织", "收腰", "雪纺"),
        ("女士",),
    ),
    Garment(
        "半身裙",
        "apparel-dress",
        "裙装",
        (15900, 19900),
        ("百褶", "A字", "针织", "牛仔"),
        ("女士",),
    ),
)
# The best seller of the demo: (gender, modifier, garment, price in fen, colours).
HERO = ("男士", "纯棉", GARMENTS[0], 7900, ("白色", "黑色", "藏青", "浅灰"))


@dataclass(frozen=True)
class ShoeType:
    name: str
    category: str
    category_name: str
    prices: tuple[int, ...]
    modifiers: tuple[str, ...]
    genders: tuple[str, ...] = ("男款", "女款")


SHOE_TYPES = (
    ShoeType(
        "跑步鞋",
        "shoes-sport",
        "运动鞋",
        (29900, 39900, 49900),
        ("轻量", "缓震", "透气网面", "竞速"),
    ),
    ShoeType("训练鞋", "shoes-sport", "运动鞋", (25900, 32900), ("综合", "轻便", "防滑")),
    ShoeType(
        "板鞋", "shoes-casual", "休闲鞋", (19900, 25900, 29900), ("经典", "复古", "厚底", "小白")
    ),
    ShoeType("帆布鞋", "shoes-casual", "休闲鞋", (12900, 15900), ("高帮", "低帮", "厚底")),
    ShoeType("老爹鞋", "shoes-casual", "休闲鞋", (29900, 35900), ("复古", "增高", "透气")),
    ShoeType(
        "商务皮鞋", "shoes-leather", "皮鞋", (39900, 59900), ("真皮", "系带", "一脚蹬"), ("男款",)
    ),
    ShoeType("乐福鞋", "shoes-leather", "皮鞋", (29900, 39900), ("真皮", "软底", "英伦")),
    ShoeType("切尔西靴", "shoes-boots", "靴子", (45900, 59900), ("真皮", "厚底", "加绒")),
    ShoeType("雪地靴", "shoes-boots", "靴子", (29900, 39900), ("加绒", "防滑", "中筒")),
    ShoeType("凉鞋", "shoes-sandals", "凉拖鞋", (12900, 19900), ("软底", "魔术贴", "运动")),
    ShoeType("拖鞋", "shoes-sandals", "凉拖鞋", (4900, 6900, 9900), ("EVA", "防滑", "居家")),
    ShoeType(
        "儿童运动鞋", "shoes-kids", "童鞋", (15900, 19900), ("魔术贴", "透气", "轻便"), ("童款",)
    ),
)
SHOE_COLOURS = ("白色", "黑色", "浅灰", "米白", "卡其", "藏青")


@dataclass(frozen=True)
class Appliance:
    name: str
    category: str
    category_name: str
    prices: tuple[int, ...]
    variants: tuple[str, ...]  # capacities or colours
    bulky: bool = False


APPLIANCES = (
    Appliance(
        "智能电饭煲", "appliance-kitchen", "厨房电器", (19900, 29900, 39900), ("3L", "4L", "5L")
    ),
    Appliance("空气炸锅", "appliance-kitchen", "厨房电器", (29900, 39900, 49900), ("4.5L", "6L")),
    Appliance("电热水壶", "appliance-kitchen", "厨房电器", (9900, 12900, 15900), ("1.5L", "1.7L")),
    Appliance(
        "破壁料理机", "appliance-kitchen", "厨房电器", (39900, 59900, 89900), ("白色", "灰色")
    ),
    Appliance("豆浆机", "appliance-kitchen", "厨房电器", (25900, 29900), ("1.2L", "1.5L")),
    Appliance("微波炉", "appliance-kitchen", "厨房电器", (49900, 69900), ("20L", "23L")),
    Appliance("电烤箱", "appliance-kitchen", "厨房电器", (29900, 39900), ("32L", "40L")),
    Appliance("电压力锅", "appliance-kitchen", "厨房电器", (29900, 39900), ("5L", "6L")),
    Appliance("养生壶", "appliance-kitchen", "厨房电器", (12900, 15900), ("白色", "薄荷绿")),
    Appliance("电磁炉", "appliance-kitchen", "厨房电器", (19900, 25900), ("2200W",)),
    Appliance(
        "无线吸尘器", "appliance-home", "生活电器", (129900, 159900, 199900), ("灰色", "香槟金")
    ),
    Appliance("扫地机器人", "appliance-home", "生活电器", (199900, 299900), ("白色", "黑色")),
    Appliance("落地扇", "appliance-home", "生活电器", (19900, 29900), ("白色",)),
    Appliance("空气循环扇", "appliance-home", "生活电器", (29900, 39900), ("白色", "灰色")),
    Appliance("加湿器", "appliance-home", "生活电器", (15900, 19900), ("4L", "6L")),
    Appliance("空气净化器", "appliance-home", "生活电器", (99900, 139900), ("白色",)),
    Appliance("取暖器", "appliance-home", "生活电器", (29900, 39900), ("白色",)),
    Appliance("挂烫机", "appliance-home", "生活电器", (25900, 29900), ("白色", "樱花粉")),
    Appliance(
        "高速吹风机",
        "appliance-personal",
        "个护电器",
        (39900, 59900, 99900),
        ("白色", "灰色", "樱花粉"),
    ),
    Appliance(
        "声波电动牙刷", "appliance-personal", "个护电器", (15900, 19900), ("白色", "黑色", "樱花粉")
    ),
    Appliance("电动剃须刀", "appliance-personal", "个护电器", (25900, 39900), ("黑色", "灰色")),
    Appliance("卷发棒", "appliance-personal", "个护电器", (12900, 15900), ("28mm", "32mm")),
    Appliance(
        "变频空调挂机", "appliance-large", "大家电", (299900, 349900), ("1.5匹", "1匹"), True
    ),
    Appliance("对开门冰箱", "appliance-large", "大家电", (399900, 459900), ("520L", "610L"), True),
    Appliance("滚筒洗衣机", "appliance-large", "大家电", (229900, 259900), ("10公斤",), True),
    Appliance(
        "4K智能电视", "appliance-large", "大家电", (299900, 459900), ("55英寸", "65英寸"), True
    ),
    Appliance("燃气热水器", "appliance-large", "大家电", (149900, 189900), ("13升", "16升"), True),
    Appliance("嵌入式洗碗机", "appliance-large", "大家电", (399900,), ("13套",), True),
)


@dataclass(frozen=True)
class Consumable:
    name: str
    category: str
    category_name: str
    packs: tuple[tuple[str, int], ...]  # (pack description, price in fen)
    flavours: tuple[str, ...] = ("",)
    care: bool = False  # personal care and household goods carry the care brand


CONSUMABLES = (
    Consumable(
        "每日坚果",
        "fmcg-snacks",
        "休闲零食",
        (("25g×7袋", 2990), ("25g×30袋", 9900)),
        ("原味", "混合果仁"),
    ),
    Consumable("芒果干", "fmcg-snacks", "休闲零食", (("80g", 1290), ("200g", 2690))),
    Consumable("海苔脆", "fmcg-snacks", "休闲零食", (("40g", 990),), ("原味", "芝麻", "香辣")),
    Consumable(
        "手撕牛肉干",
        "fmcg-snacks",
        "休闲零食",
        (("100g", 3590), ("250g", 7990)),
        ("五香", "香辣", "黑椒"),
    ),
    Consumable("苏打饼干", "fmcg-snacks", "休闲零食", (("400g", 1590),), ("原味", "海盐", "葱香")),
    Consumable("黑巧克力", "fmcg-snacks", "休闲零食", (("100g", 1990),), ("70%可可", "85%可可")),
    Consumable(
        "薯片",
        "fmcg-snacks",
        "休闲零食",
        (("70g", 790), ("135g", 1290)),
        ("原味", "番茄", "黄瓜", "烧烤"),
    ),
    Consumable(
        "开心果", "fmcg-snacks", "休闲零食", (("200g", 3990), ("500g", 8990)), ("原味", "盐焗")
    ),
    Consumable("蛋黄酥", "fmcg-snacks", "休闲零食", (("6枚", 2990),), ("原味", "紫薯", "抹茶")),
    Consumable("猪肉脯", "fmcg-snacks", "休闲零食", (("100g", 2590),), ("原味", "蜜汁", "香辣")),
    Consumable("冻干草莓", "fmcg-snacks", "休闲零食", (("30g", 1990),)),
    Consumable("无糖苏打水", "fmcg-drinks", "饮料冲调", (("410ml×24瓶", 5990),), ("原味", "柠檬")),
    Consumable(
        "气泡水",
        "fmcg-drinks",
        "饮料冲调",
        (("330ml×12罐", 3990), ("480ml×15瓶", 5490)),
        ("白桃", "青柠", "西柚"),
    ),
    Consumable(
        "挂耳咖啡", "fmcg-drinks", "饮料冲调", (("10g×20包", 6990),), ("中度烘焙", "深度烘焙")
    ),
    Consumable(
        "即食燕麦片",
        "fmcg-drinks",
        "饮料冲调",
        (("1kg", 2990), ("500g", 1690)),
        ("纯燕麦", "水果坚果"),
    ),
    Consumable("椰子水", "fmcg-drinks", "饮料冲调", (("1L×6瓶", 7990),)),
    Consumable(
        "无糖乌龙茶", "fmcg-drinks", "饮料冲调", (("500ml×15瓶", 5990),), ("乌龙", "茉莉", "大红袍")
    ),
    Consumable("电解质水", "fmcg-drinks", "饮料冲调", (("600ml×15瓶", 6990),), ("青柠", "西柚")),
    Consumable("冻干咖啡粉", "fmcg-drinks", "饮料冲调", (("2g×24颗", 6990),), ("美式", "拿铁")),
    Consumable(
        "纯牛奶",
        "fmcg-dairy",
        "乳品",
        (("250ml×12盒", 4990), ("250ml×24盒", 8990)),
        ("全脂", "低脂"),
    ),
    Consumable("风味酸奶", "fmcg-dairy", "乳品", (("200g×12盒", 5990),), ("原味", "草莓", "黄桃")),
    Consumable("儿童奶酪棒", "fmcg-dairy", "乳品", (("500g", 4990),), ("原味", "草莓")),
    Consumable("希腊酸奶", "fmcg-dairy", "乳品", (("100g×6杯", 3990),), ("原味", "蓝莓")),
    Consumable("植物燕麦奶", "fmcg-dairy", "乳品", (("1L×6盒", 6990),), ("原味", "咖啡大师")),
    Consumable("氨基酸洗面奶", "fmcg-personal", "个人护理", (("100g", 5900),), care=True),
    Consumable(
        "洗发水",
        "fmcg-personal",
        "个人护理",
        (("750ml", 5990), ("400ml", 3590)),
        ("去屑", "柔顺", "控油"),
        True,
    ),
    Consumable(
        "沐浴露", "fmcg-personal", "个人护理", (("1L", 4990),), ("樱花", "海盐", "牛奶"), True
    ),
    Consumable(
        "牙膏",
        "fmcg-personal",
        "个人护理",
        (("180g", 1990), ("180g×3支", 4990)),
        ("薄荷", "竹炭", "亮白"),
        True,
    ),
    Consumable("护手霜", "fmcg-personal", "个人护理", (("30g×3支", 3990),), ("玫瑰", "白茶"), True),
    Consumable("漱口水", "fmcg-personal", "个人护理", (("500ml", 2990),), ("薄荷", "绿茶"), True),
    Consumable(
        "泡沫洗手液",
        "fmcg-personal",
        "个人护理",
        (("300ml", 1990), ("补充装 1L", 3990)),
        ("植物", "抑菌"),
        True,
    ),
    Consumable("防晒喷雾", "fmcg-personal", "个人护理", (("150ml", 6990),), ("SPF50",), True),
    Consumable(
        "洗衣液",
        "fmcg-household",
        "家庭清洁",
        (("3kg", 3990), ("1kg", 1690)),
        ("薰衣草", "阳光清香"),
        True,
    ),
    Consumable("洗衣凝珠", "fmcg-household", "家庭清洁", (("52颗", 5990),), ("除菌", "留香"), True),
    Consumable("洗洁精", "fmcg-household", "家庭清洁", (("1.5kg", 1690),), ("柠檬", "绿茶"), True),
    Consumable(
        "抽纸",
        "fmcg-household",
        "家庭清洁",
        (("3层120抽×18包", 4590), ("3层100抽×6包", 1990)),
        care=True,
    ),
    Consumable("厨房纸巾", "fmcg-household", "家庭清洁", (("75节×4卷", 2990),), care=True),
    Consumable(
        "垃圾袋", "fmcg-household", "家庭清洁", (("45×50cm 5卷", 1990),), ("加厚", "抽绳"), True
    ),
    Consumable(
        "衣物柔顺剂", "fmcg-household", "家庭清洁", (("2.5L", 3990),), ("花香", "淡香"), True
    ),
    Consumable("厨房油污净", "fmcg-household", "家庭清洁", (("500g", 1990),), care=True),
    Consumable("五常大米", "fmcg-grain", "粮油调味", (("5kg", 6990), ("10kg", 12900))),
    Consumable("压榨花生油", "fmcg-grain", "粮油调味", (("5L", 12900), ("1.8L", 5490))),
    Consumable("生抽酱油", "fmcg-grain", "粮油调味", (("1.28L", 1690),), ("特级", "零添加")),
    Consumable("山西老陈醋", "fmcg-grain", "粮油调味", (("500ml", 990),)),
    Consumable("鸡蛋挂面", "fmcg-grain", "粮油调味", (("1kg", 1290),)),
    Consumable(
        "火锅底料", "fmcg-grain", "粮油调味", (("300g", 1990),), ("牛油麻辣", "番茄", "菌汤")
    ),
    Consumable("意大利面", "fmcg-grain", "粮油调味", (("500g", 1590),), ("直条", "螺旋")),
)
