import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EntryAppended(_message.Message):
    __slots__ = ("register", "entry_number", "key", "item_hashes", "items_json", "entry_timestamp", "tree_size", "root_hash")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    ENTRY_NUMBER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ITEM_HASHES_FIELD_NUMBER: _ClassVar[int]
    ITEMS_JSON_FIELD_NUMBER: _ClassVar[int]
    ENTRY_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    register: str
    entry_number: int
    key: str
    item_hashes: _containers.RepeatedScalarFieldContainer[str]
    items_json: _containers.RepeatedScalarFieldContainer[str]
    entry_timestamp: _timestamp_pb2.Timestamp
    tree_size: int
    root_hash: bytes
    def __init__(self, register: _Optional[str] = ..., entry_number: _Optional[int] = ..., key: _Optional[str] = ..., item_hashes: _Optional[_Iterable[str]] = ..., items_json: _Optional[_Iterable[str]] = ..., entry_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ...) -> None: ...
