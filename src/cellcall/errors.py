"""Errors every layer may raise; their message is safe to show a user as it is."""


class CellcallError(Exception):
    """A refusal or failure with a message written for the person at the keyboard."""


class NotFoundError(CellcallError):
    """The thing named does not exist."""


class ValidationError(CellcallError):
    """The input is not acceptable; nothing was written."""


class PermissionDeniedError(CellcallError):
    """The actor's role does not allow this action."""


class SchemaError(CellcallError):
    """The database is missing, older or newer than this version of cellcall."""
