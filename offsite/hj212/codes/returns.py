"""Return codes: QnRtn of 9011 (request response) and ExeRtn of 9012 (execution result)."""

from __future__ import annotations

from enum import IntEnum


class QnRtn(IntEnum):
    READY = 1
    REJECTED = 2
    PW_ERROR = 3
    MN_ERROR = 4
    ST_ERROR = 5
    FLAG_ERROR = 6
    QN_ERROR = 7
    CN_ERROR = 8
    CRC_ERROR = 9
    UNKNOWN_ERROR = 100


class ExeRtn(IntEnum):
    SUCCESS = 1
    FAILED = 2
    CONDITION_ERROR = 3
    TIMEOUT = 4
    BUSY = 5
    SYSTEM_FAULT = 6
    NO_DATA = 100


QN_RTN_ZH = {
    QnRtn.READY: "准备执行请求",
    QnRtn.REJECTED: "请求被拒绝",
    QnRtn.PW_ERROR: "PW错误",
    QnRtn.MN_ERROR: "MN错误",
    QnRtn.ST_ERROR: "ST错误",
    QnRtn.FLAG_ERROR: "Flag错误",
    QnRtn.QN_ERROR: "QN错误",
    QnRtn.CN_ERROR: "CN错误",
    QnRtn.CRC_ERROR: "CRC校验错误",
    QnRtn.UNKNOWN_ERROR: "未知错误",
}

EXE_RTN_ZH = {
    ExeRtn.SUCCESS: "执行成功",
    ExeRtn.FAILED: "执行失败，但不知道原因",
    ExeRtn.CONDITION_ERROR: "命令请求条件错误",
    ExeRtn.TIMEOUT: "通讯超时",
    ExeRtn.BUSY: "系统繁忙不能执行",
    ExeRtn.SYSTEM_FAULT: "系统故障",
    ExeRtn.NO_DATA: "没有数据",
}
