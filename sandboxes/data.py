"""Deterministic sample data for the sandboxes: Traditional Chinese names, Taiwanese addresses, products.

All choices go through a ``random.Random(seed)`` the caller owns, so the same seed gives the same
orders on every machine. Addresses use real city/district/postcode triples so they resolve in the
OMS address catalogue.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["SURNAMES", "GIVEN_NAMES", "TW_DISTRICTS", "STREETS", "PRODUCTS", "Product", "person_name",
           "tw_address", "mobile", "pick_products"]

SURNAMES = ("陳", "林", "黃", "張", "李", "王", "吳", "劉", "蔡", "楊", "許", "鄭", "謝", "郭", "洪", "曾", "邱", "廖")
GIVEN_NAMES = ("怡君", "志明", "淑芬", "家豪", "雅婷", "俊傑", "美玲", "冠宇", "佳穎", "建宏", "宜蓁", "承恩",
               "欣怡", "宗翰", "詩涵", "柏翰", "珮瑜", "彥廷")

# (city 縣市, district 鄉鎮市區, postcode)
TW_DISTRICTS = (
    ("臺北市", "中正區", "100"), ("臺北市", "大安區", "106"), ("臺北市", "信義區", "110"),
    ("臺北市", "士林區", "111"), ("臺北市", "內湖區", "114"), ("新北市", "板橋區", "220"),
    ("新北市", "新莊區", "242"), ("新北市", "三重區", "241"), ("新北市", "中和區", "235"),
    ("桃園市", "桃園區", "330"), ("桃園市", "中壢區", "320"), ("新竹市", "東區", "300"),
    ("臺中市", "西屯區", "407"), ("臺中市", "北屯區", "406"), ("臺南市", "東區", "701"),
    ("高雄市", "前鎮區", "806"), ("高雄市", "左營區", "813"), ("基隆市", "仁愛區", "200"),
    ("宜蘭縣", "宜蘭市", "260"), ("花蓮縣", "花蓮市", "970"),
)
STREETS = ("中山路", "中正路", "民生東路", "忠孝東路", "復興南路", "光復路", "文化路", "和平東路", "成功路", "自由路")


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: Decimal  # TWD, whole dollars


PRODUCTS = (
    Product("TEA-OOLONG-150", "阿里山烏龍茶 150g", Decimal("480")),
    Product("TEA-BLACK-100", "日月潭紅茶 100g", Decimal("360")),
    Product("MUG-CER-350", "陶瓷馬克杯 350ml", Decimal("299")),
    Product("BAG-CANVAS-L", "帆布托特包 L", Decimal("590")),
    Product("SOAP-HONEY-3", "蜂蜜手工皂三入", Decimal("250")),
    Product("SOCK-WOOL-M", "羊毛襪 M", Decimal("180")),
    Product("PEN-GEL-05", "中性筆 0.5mm 十入", Decimal("120")),
    Product("SAUCE-CHILI", "辣椒醬 240g", Decimal("220")),
)


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def mobile(rng: random.Random) -> str:
    return "09" + "".join(str(rng.randrange(10)) for _ in range(8))


def tw_address(rng: random.Random) -> dict[str, str]:
    """A Taiwanese address as parts plus the one-line form (zip + city + district + street)."""
    city, district, postcode = rng.choice(TW_DISTRICTS)
    street = rng.choice(STREETS)
    line1 = f"{street}{rng.randrange(1, 300)}號{rng.randrange(1, 15)}樓"
    return {"city": city, "district": district, "zip": postcode, "line1": line1,
            "full": f"{postcode}{city}{district}{line1}"}


def pick_products(rng: random.Random, max_lines: int = 3) -> list[tuple[Product, int]]:
    """1..max_lines distinct products with quantities 1..3."""
    count = rng.randint(1, max_lines)
    return [(p, rng.randint(1, 3)) for p in rng.sample(PRODUCTS, count)]
