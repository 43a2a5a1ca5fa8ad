"""Make the Chinese spreadsheets of tests/data/lists as street offices produce them (run from the repo root).

- 社区卫生服务中心_gbk.csv: the real community health service centres of the default area within 150 m of the
  street their address names (up to 20; GCJ-02, from
  shared/data/shanghai-central-real/community_health_centres_gcj02.csv, source and licence in its PROVENANCE.md:
  zhangfu12123/shanghai-medical-webgis-platform, licence none stated), GBK-encoded, Chinese headers, plain
  经度/纬度 columns that do not say GCJ-02.
- 社区卫生服务中心_高德.csv: the same rows, UTF-8 with BOM, headers 经度(高德)/纬度(高德).
- 服务设施清单.xlsx: the default area's illustrative facilities (first 40) in GCJ-02, Chinese tier names
  (社区服务中心/服务站/服务点), services in Chinese, a title row above the header, on sheet "设施".
"""

from __future__ import annotations

import sys
from pathlib import Path

import openpyxl
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from planner.coords import wgs84_to_gcj02

HERE = Path(__file__).resolve().parent
REAL = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2].parent / "shared/data/shanghai-central-real"

chc = pd.read_csv(REAL / "community_health_centres_gcj02.csv")
chc = chc[chc["in_road_extent"] & chc["position_flag"].isna() & (chc["osm_street_dist_m"] < 150)].head(20)
table = pd.DataFrame(
    {
        "名称": chc["name"],
        "类别": chc["category"],
        "所属区": chc["district"],
        "地址": chc["address"],
        "经度": chc["lon"],
        "纬度": chc["lat"],
    }
)
table.to_csv(HERE / "社区卫生服务中心_gbk.csv", index=False, encoding="gbk")
table.rename(columns={"经度": "经度(高德)", "纬度": "纬度(高德)"}).to_csv(
    HERE / "社区卫生服务中心_高德.csv", index=False, encoding="utf-8-sig"
)

fac = pd.read_csv(HERE.parents[2] / "data/shanghai-central/facilities_illustrative.csv").head(40)
glon, glat = wgs84_to_gcj02(fac["lon"].to_numpy(), fac["lat"].to_numpy())
names = {"center": "社区服务中心", "station": "服务站", "point": "服务点"}
services = {
    "elderly_care": "养老",
    "meals": "助餐",
    "health": "健康",
    "childcare": "托育",
    "culture_sport": "文体",
    "government_affairs": "政务",
}
book = openpyxl.Workbook()
sheet = book.active
sheet.title = "说明"
sheet.append(["本表为测试用示意数据"])
sheet = book.create_sheet("设施")
sheet.append(["静安区家门口服务设施清单（示意，2025 年）"])
sheet.append(["编号", "设施名称", "层级", "服务内容", "经度", "纬度"])
for i, row in fac.reset_index(drop=True).iterrows():
    listed = "、".join(services[s] for s in str(row["services"]).split(";") if s in services)
    sheet.append(
        [
            row["facility_id"],
            row["name"],
            names[row["tier"]],
            listed,
            round(float(glon[i]), 6),
            round(float(glat[i]), 6),
        ]
    )
book.save(HERE / "服务设施清单.xlsx")
print("written", *sorted(p.name for p in HERE.iterdir() if p.suffix in {".csv", ".xlsx"}))
