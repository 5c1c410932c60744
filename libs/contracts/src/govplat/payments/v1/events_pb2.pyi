import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentCreated(_message.Message):
    __slots__ = ("payment_id", "service_id", "amount", "reference", "create_time")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    service_id: str
    amount: int
    reference: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, payment_id: _Optional[str] = ..., service_id: _Optional[str] = ..., amount: _Optional[int] = ..., reference: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PaymentSucceeded(_message.Message):
    __slots__ = ("payment_id", "service_id", "amount", "reference", "email", "description", "create_time", "succeed_time", "key_type")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SUCCEED_TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_TYPE_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    service_id: str
    amount: int
    reference: str
    email: str
    description: str
    create_time: _timestamp_pb2.Timestamp
    succeed_time: _timestamp_pb2.Timestamp
    key_type: str
    def __init__(self, payment_id: _Optional[str] = ..., service_id: _Optional[str] = ..., amount: _Optional[int] = ..., reference: _Optional[str] = ..., email: _Optional[str] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., succeed_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_type: _Optional[str] = ...) -> None: ...

class PaymentFailed(_message.Message):
    __slots__ = ("payment_id", "service_id", "code")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    service_id: str
    code: str
    def __init__(self, payment_id: _Optional[str] = ..., service_id: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class RefundSucceeded(_message.Message):
    __slots__ = ("refund_id", "payment_id", "amount")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    payment_id: str
    amount: int
    def __init__(self, refund_id: _Optional[str] = ..., payment_id: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...
