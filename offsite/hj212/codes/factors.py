"""Monitored factor codes (HJ 212-2017 Appendix B; HJ 524/525), with the 2005 codes they replace.

Source: HJ 212-2017 Appendix B as digested in shared/domain/hj212.md §4.4 and the machine-
readable tables of xiaoyao9184/hj-t212-parser (translator/…/coding/PollutionGas.java,
PollutionWater.java). Units are the concentration units of the standard.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Medium(StrEnum):
    GAS = "gas"
    WATER = "water"
    AIR = "air"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class FactorInfo:
    code: str
    name_zh: str
    name_en: str
    unit: str
    medium: Medium
    code_2005: str | None = None


_G, _W, _A, _I = Medium.GAS, Medium.WATER, Medium.AIR, Medium.INFO

_TABLE: tuple[FactorInfo, ...] = (
    # Flue gas (ST=31)
    FactorInfo("a00000", "废气", "flue-gas flow", "m³/s", _G, "B02"),
    FactorInfo("a34013", "烟尘", "particulate matter", "mg/m³", _G, "01"),
    FactorInfo("a21026", "二氧化硫", "sulphur dioxide (SO2)", "mg/m³", _G, "02"),
    FactorInfo("a21002", "氮氧化物", "nitrogen oxides (NOx)", "mg/m³", _G, "03"),
    FactorInfo("a21005", "一氧化碳", "carbon monoxide (CO)", "mg/m³", _G, "04"),
    FactorInfo("a21028", "硫化氢", "hydrogen sulphide (H2S)", "mg/m³", _G, "05"),
    FactorInfo("a21018", "氟化物", "fluoride", "mg/m³", _G, "06"),
    FactorInfo("a21017", "氰化物", "cyanide", "mg/m³", _G, "07"),
    FactorInfo("a21024", "氯化氢", "hydrogen chloride (HCl)", "mg/m³", _G, "08"),
    FactorInfo("a34038", "沥青烟", "asphalt fume", "mg/m³", _G, "09"),
    FactorInfo("a21001", "氨（氨气）", "ammonia (NH3)", "mg/m³", _G, "10"),
    FactorInfo("a21022", "氯气", "chlorine", "mg/m³", _G, "11"),
    FactorInfo("a99051", "二硫化碳", "carbon disulphide", "mg/m³", _G, "12"),
    FactorInfo("a30022", "硫醇", "mercaptans", "mg/m³", _G, "13"),
    FactorInfo("a34039", "硫酸雾", "sulphuric acid mist", "mg/m³", _G, "14"),
    FactorInfo("a34040", "铬酸雾", "chromic acid mist", "mg/m³", _G, "15"),
    FactorInfo("a25003", "甲苯", "toluene", "mg/m³", _G, "17"),
    FactorInfo("a25005", "二甲苯", "xylene", "mg/m³", _G, "18"),
    FactorInfo("a31001", "甲醛", "formaldehyde", "mg/m³", _G, "19"),
    FactorInfo("a25044", "苯并[a]芘", "benzo[a]pyrene", "mg/m³", _G, "20"),
    FactorInfo("a26001", "苯胺类", "anilines", "mg/m³", _G, "21"),
    FactorInfo("a25023", "硝基苯", "nitrobenzene", "mg/m³", _G, "22"),
    FactorInfo("a25010", "氯苯", "chlorobenzene", "mg/m³", _G, "23"),
    FactorInfo("a99049", "光气", "phosgene", "mg/m³", _G, "24"),
    FactorInfo("a24087", "碳氢化合物", "hydrocarbons (THC)", "mg/m³", _G, "25"),
    FactorInfo("a31002", "乙醛", "acetaldehyde", "mg/m³", _G, "26"),
    FactorInfo("a23001", "酚类", "phenols", "mg/m³", _G, "27"),
    FactorInfo("a30001", "甲醇", "methanol", "mg/m³", _G, "28"),
    FactorInfo("a24046", "氯乙烯", "vinyl chloride", "mg/m³", _G, "29"),
    FactorInfo("a05001", "二氧化碳", "carbon dioxide (CO2)", "mg/m³", _G, "30"),
    FactorInfo("a20057", "汞及其化合物", "mercury and compounds", "mg/m³", _G, "31"),
    FactorInfo("a20043", "铅及其化合物", "lead and compounds", "mg/m³", _G, "32"),
    FactorInfo("a20025", "镉及其化合物", "cadmium and compounds", "mg/m³", _G, "33"),
    FactorInfo("a20091", "锡及其化合物", "tin and compounds", "mg/m³", _G, "34"),
    FactorInfo("a20063", "镍及其化合物", "nickel and compounds", "mg/m³", _G, "35"),
    FactorInfo("a20016", "铍及其化合物", "beryllium and compounds", "mg/m³", _G, "36"),
    FactorInfo("a01010", "林格曼黑度", "Ringelmann blackness", "-", _G, "37"),
    FactorInfo("a19001", "氧气含量", "oxygen content (O2)", "%", _G, "S01"),
    FactorInfo("a01011", "烟气流速", "flue-gas velocity", "m/s", _G, "S02"),
    FactorInfo("a01012", "烟气温度", "flue-gas temperature", "°C", _G, "S03"),
    FactorInfo("a01017", "烟气动压", "flue-gas dynamic pressure", "kPa", _G, "S04"),
    FactorInfo("a01014", "烟气湿度", "flue-gas humidity", "%", _G, "S05"),
    FactorInfo("a01015", "制冷温度", "cooler temperature", "°C", _G, "S06"),
    FactorInfo("a01016", "烟道截面积", "duct cross-section", "m²", _G, "S07"),
    FactorInfo("a01013", "烟气压力", "flue-gas pressure", "kPa", _G, "S08"),
    FactorInfo("a21003", "一氧化氮", "nitric oxide (NO)", "mg/m³", _G),
    FactorInfo("a21004", "二氧化氮", "nitrogen dioxide (NO2)", "mg/m³", _G),
    FactorInfo("a24088", "非甲烷总烃", "non-methane hydrocarbons (NMHC)", "mg/m³", _G),
    FactorInfo("a05002", "甲烷", "methane (CH4)", "mg/m³", _G),
    FactorInfo("a25002", "苯", "benzene", "mg/m³", _G),
    FactorInfo("a01901", "垃圾焚烧炉膛内焚烧平均温度", "incinerator furnace mean temperature", "°C", _G),
    FactorInfo("a01902", "垃圾焚烧炉膛内DCS温度", "incinerator furnace DCS temperature", "°C", _G),
    # Wastewater (ST=32)
    FactorInfo("w00000", "污水", "wastewater flow", "L/s", _W, "B01"),
    FactorInfo("w01001", "pH值", "pH", "-", _W, "001"),
    FactorInfo("w01002", "色度", "colour", "degree", _W, "002"),
    FactorInfo("w01012", "悬浮物", "suspended solids (SS)", "mg/L", _W, "003"),
    FactorInfo("w01017", "五日生化需氧量", "BOD5", "mg/L", _W, "010"),
    FactorInfo("w01018", "化学需氧量", "chemical oxygen demand (COD)", "mg/L", _W, "011"),
    FactorInfo("w01020", "总有机碳", "total organic carbon (TOC)", "mg/L", _W, "015"),
    FactorInfo("w20111", "总汞", "total mercury", "µg/L", _W, "020"),
    FactorInfo("w20113", "烷基汞", "alkyl mercury", "ng/L", _W, "021"),
    FactorInfo("w20115", "总镉", "total cadmium", "µg/L", _W, "022"),
    FactorInfo("w20116", "总铬", "total chromium", "mg/L", _W, "023"),
    FactorInfo("w20117", "六价铬", "hexavalent chromium", "µg/L", _W, "024"),
    FactorInfo("w20119", "总砷", "total arsenic", "µg/L", _W, "026"),
    FactorInfo("w20120", "总铅", "total lead", "µg/L", _W, "027"),
    FactorInfo("w20121", "总镍", "total nickel", "mg/L", _W, "028"),
    FactorInfo("w20122", "总铜", "total copper", "mg/L", _W, "029"),
    FactorInfo("w20123", "总锌", "total zinc", "mg/L", _W, "030"),
    FactorInfo("w20124", "总锰", "total manganese", "mg/L", _W, "031"),
    FactorInfo("w20125", "总铁", "total iron", "mg/L", _W, "032"),
    FactorInfo("w20126", "总银", "total silver", "mg/L", _W, "033"),
    FactorInfo("w20127", "总铍", "total beryllium", "µg/L", _W, "034"),
    FactorInfo("w20128", "总硒", "total selenium", "µg/L", _W, "035"),
    FactorInfo("w20092", "锡", "tin", "mg/L", _W, "036"),
    FactorInfo("w20023", "硼", "boron", "mg/L", _W, "037"),
    FactorInfo("w20061", "钼", "molybdenum", "mg/L", _W, "038"),
    FactorInfo("w20012", "钡", "barium", "mg/L", _W, "039"),
    FactorInfo("w20038", "钴", "cobalt", "mg/L", _W, "040"),
    FactorInfo("w20089", "铊", "thallium", "ng/L", _W, "041"),
    FactorInfo("w21003", "氨氮", "ammonia nitrogen (NH3-N)", "mg/L", _W, "060"),
    FactorInfo("w99001", "有机氮", "organic nitrogen", "mg/L", _W, "061"),
    FactorInfo("w21004", "凯氏氮", "Kjeldahl nitrogen", "mg/L", _W, "062"),
    FactorInfo("w21006", "亚硝酸盐", "nitrite", "mg/L", _W, "063"),
    FactorInfo("w21007", "硝酸盐", "nitrate", "mg/L", _W, "064"),
    FactorInfo("w21001", "总氮", "total nitrogen (TN)", "mg/L", _W, "065"),
    FactorInfo("w21016", "氰化物", "cyanide", "mg/L", _W, "070"),
    FactorInfo("w21019", "硫化物", "sulphide", "mg/L", _W, "071"),
    FactorInfo("w21017", "氟化物", "fluoride", "mg/L", _W, "072"),
    FactorInfo("w22001", "石油类", "petroleum", "mg/L", _W, "080"),
    FactorInfo("w21022", "氯化物", "chloride", "mg/L", _W, "090"),
    FactorInfo("w21011", "总磷", "total phosphorus (TP)", "mg/L", _W, "101"),
    FactorInfo("w23002", "挥发酚", "volatile phenols", "mg/L", _W, "110"),
    FactorInfo("w33001", "六六六", "hexachlorocyclohexane (BHC)", "ng/L", _W, "350"),
    FactorInfo("w33007", "滴滴涕", "DDT", "ng/L", _W, "351"),
    FactorInfo("w19002", "阴离子表面活性剂", "anionic surfactants", "mg/L", _W, "520"),
    FactorInfo("w25043", "苯并[α]芘", "benzo[a]pyrene", "µg/L", _W, "540"),
    FactorInfo("w02003", "粪大肠菌群", "faecal coliforms", "count/L", _W, "550"),
    FactorInfo("w03001", "总α放射性", "gross alpha radioactivity", "Bq/L", _W, "570"),
    FactorInfo("w03002", "总β放射性", "gross beta radioactivity", "Bq/L", _W, "571"),
    FactorInfo("w01009", "溶解氧", "dissolved oxygen", "mg/L", _W),
    FactorInfo("w01010", "水温", "water temperature", "°C", _W),
    FactorInfo("w01014", "电导率", "conductivity", "µS/cm", _W),
    FactorInfo("w01019", "高锰酸盐指数", "permanganate index (CODMn)", "mg/L", _W),
    # Ambient air (ST=22) and weather
    FactorInfo("a34002", "可吸入颗粒物PM10", "PM10", "µg/m³", _A),
    FactorInfo("a34004", "细颗粒物PM2.5", "PM2.5", "µg/m³", _A),
    FactorInfo("a05024", "臭氧", "ozone (O3)", "µg/m³", _A),
    FactorInfo("a01001", "温度", "air temperature", "°C", _A),
    FactorInfo("a01002", "湿度", "relative humidity", "%", _A),
    FactorInfo("a01006", "气压", "air pressure", "kPa", _A),
    FactorInfo("a01007", "风速", "wind speed", "m/s", _A),
    FactorInfo("a01008", "风向", "wind direction", "°", _A),
    # Site information (i codes, 2017 Appendix B)
    FactorInfo("i11001", "现场端仪器日志", "instrument log", "-", _I),
    FactorInfo("i12001", "现场端仪器工作状态", "instrument work state", "-", _I),
    FactorInfo("i12002", "仪器与数采仪通讯状态", "instrument-logger communication state", "-", _I),
    FactorInfo("i12003", "仪器报警状态", "instrument alarm state", "-", _I),
    FactorInfo("i13001", "测量量程", "measuring range", "-", _I),
    FactorInfo("i13002", "测量精度", "measuring precision", "-", _I),
    FactorInfo("i13003", "测量间隔", "measuring interval", "min", _I),
    FactorInfo("i13004", "消解温度", "digestion temperature", "°C", _I),
    FactorInfo("i13005", "消解时长", "digestion time", "min", _I),
    FactorInfo("i13006", "校准时间", "calibration time", "-", _I),
    FactorInfo("i13007", "截距", "intercept", "-", _I),
    FactorInfo("i13008", "斜率", "slope", "-", _I),
    FactorInfo("i13009", "检出限", "detection limit", "-", _I),
    FactorInfo("i21001", "数采仪日志", "data-logger log", "-", _I),
    FactorInfo("i22001", "数采仪状态", "data-logger state", "-", _I),
    FactorInfo("i22003", "数采仪与上位机通讯状态", "logger-platform communication state", "-", _I),
    FactorInfo("i23001", "当地大气压", "local air pressure", "kPa", _I),
    FactorInfo("i33001", "CEMS伴热管温度", "CEMS heat-trace temperature", "°C", _I),
    FactorInfo("i33002", "CEMS冷凝器温度", "CEMS condenser temperature", "°C", _I),
    FactorInfo("i33400", "生产负荷", "production load", "%", _I),
)

FACTORS: dict[str, FactorInfo] = {f.code: f for f in _TABLE}
"""Every known factor by its HJ 212-2017 code."""

CODE_2005_TO_2017: dict[str, str] = {f.code_2005: f.code for f in _TABLE if f.code_2005}
"""HJ/T 212-2005 factor codes (short codes such as ``02``, ``011``, ``B01``) to 2017 codes."""

GAS_POLLUTANT_CODES = frozenset({"a21026", "a21002", "a34013"})
"""SO2, NOx, particulate: sending any of these marks a device as a flue-gas device."""


def factor_info(code: str) -> FactorInfo | None:
    return FACTORS.get(code)
