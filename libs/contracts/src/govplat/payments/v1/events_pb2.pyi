import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentCreated(_message.Message):
    __slots__ = ("payment_id", "service_id", "amount", "reference", "create_time", "authorisation_mode", "key_type")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    AUTHORISATION_MODE_FIELD_NUMBER: _ClassVar[int]
    KEY_TYPE_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    service_id: str
    amount: int
    reference: str
    create_time: _timestamp_pb2.Timestamp
    authorisation_mode: str
    key_type: str
    def __init__(self, payment_id: _Optional[str] = ..., service_id: _Optional[str] = ..., amount: _Optional[int] = ..., reference: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., authorisation_mode: _Optional[str] = ..., key_type: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("payment_id", "service_id", "code", "status")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    service_id: str
    code: str
    status: str
    def __init__(self, payment_id: _Optional[str] = ..., service_id: _Optional[str] = ..., code: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class RefundSucceeded(_message.Message):
    __slots__ = ("refund_id", "payment_id", "amount")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    payment_id: str
    amount: int
    def __init__(self, refund_id: _Optional[str] = ..., payment_id: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class WebhookMessageQueued(_message.Message):
    __slots__ = ("message_id", "webhook_id")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    webhook_id: str
    def __init__(self, message_id: _Optional[str] = ..., webhook_id: _Optional[str] = ...) -> None: ...
