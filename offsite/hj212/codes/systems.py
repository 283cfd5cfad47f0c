"""System codes ST (HJ 212-2017 Table 5). Real traffic misuses ST, so it is advisory only."""

from __future__ import annotations

SYSTEMS: dict[str, tuple[str, str]] = {
    "21": ("地表水质量监测", "surface water quality"),
    "22": ("空气质量监测", "air quality"),
    "23": ("声环境质量监测", "noise quality"),
    "24": ("地下水质量监测", "groundwater quality"),
    "25": ("土壤质量监测", "soil quality"),
    "26": ("海水质量监测", "seawater quality"),
    "27": ("挥发性有机物监测", "volatile organic compounds"),
    "31": ("大气环境污染源", "flue-gas pollution source"),
    "32": ("地表水体环境污染源", "wastewater pollution source"),
    "33": ("地下水体环境污染源", "groundwater pollution source"),
    "34": ("海洋环境污染源", "marine pollution source"),
    "35": ("土壤环境污染源", "soil pollution source"),
    "36": ("声环境污染源", "noise pollution source"),
    "37": ("振动环境污染源", "vibration pollution source"),
    "38": ("放射性环境污染源", "radioactive pollution source"),
    "39": ("工地扬尘污染源", "construction dust source"),
    "41": ("电磁环境污染源", "electromagnetic pollution source"),
    "51": ("烟气排放过程监控", "flue-gas process monitoring"),
    "52": ("污水排放过程监控", "wastewater process monitoring"),
    "91": ("系统交互", "system interaction"),
}

INTERACTION = "91"
"""ST of every 9011–9014 reply."""
