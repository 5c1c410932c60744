import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerificationChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_CHANNEL_UNSPECIFIED: _ClassVar[VerificationChannel]
    VERIFICATION_CHANNEL_EMAIL: _ClassVar[VerificationChannel]
    VERIFICATION_CHANNEL_SMS: _ClassVar[VerificationChannel]

class VerificationPurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_PURPOSE_UNSPECIFIED: _ClassVar[VerificationPurpose]
    VERIFICATION_PURPOSE_SIGN_UP: _ClassVar[VerificationPurpose]
    VERIFICATION_PURPOSE_SIGN_IN: _ClassVar[VerificationPurpose]
VERIFICATION_CHANNEL_UNSPECIFIED: VerificationChannel
VERIFICATION_CHANNEL_EMAIL: VerificationChannel
VERIFICATION_CHANNEL_SMS: VerificationChannel
VERIFICATION_PURPOSE_UNSPECIFIED: VerificationPurpose
VERIFICATION_PURPOSE_SIGN_UP: VerificationPurpose
VERIFICATION_PURPOSE_SIGN_IN: VerificationPurpose

class AccountCreated(_message.Message):
    __slots__ = ("account_id", "create_time")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class VerificationCodeRequested(_message.Message):
    __slots__ = ("account_id", "channel", "destination", "code", "purpose", "expire_time")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    channel: VerificationChannel
    destination: str
    code: str
    purpose: VerificationPurpose
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., channel: _Optional[_Union[VerificationChannel, str]] = ..., destination: _Optional[str] = ..., code: _Optional[str] = ..., purpose: _Optional[_Union[VerificationPurpose, str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ApiKeyRevoked(_message.Message):
    __slots__ = ("api_key_id", "service_id")
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    api_key_id: str
    service_id: str
    def __init__(self, api_key_id: _Optional[str] = ..., service_id: _Optional[str] = ...) -> None: ...
