import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from govplat.notify.v1 import notify_service_pb2 as _notify_service_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NotificationCreated(_message.Message):
    __slots__ = ("notification_id", "service_id", "type")
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    service_id: str
    type: _notify_service_pb2.NotificationType
    def __init__(self, notification_id: _Optional[str] = ..., service_id: _Optional[str] = ..., type: _Optional[_Union[_notify_service_pb2.NotificationType, str]] = ...) -> None: ...

class NotificationStatusChanged(_message.Message):
    __slots__ = ("notification_id", "service_id", "status", "reference", "update_time")
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    service_id: str
    status: str
    reference: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, notification_id: _Optional[str] = ..., service_id: _Optional[str] = ..., status: _Optional[str] = ..., reference: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
