"""Registration and login."""

from __future__ import annotations

from actors.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from actors.ray.registry import Runtime
from serve_app.auth.passwords import PasswordHashing
from serve_app.auth.principals import ROLE_CACHE, signing_secret
from serve_app.auth.tokens import Principal, issue_token
from serve_app.observability.audit_log import audit_entry, record_audit
from serve_app.schemas.users import LoginPublic, UserCreate, UserPublic
from serve_app.settings import ApiConfig

BAD_LOGIN = "Invalid user name or password"


def check_password(config: ApiConfig, password: str) -> None:
    """Refuse a password shorter than the configured minimum (InvalidInput)."""
    if len(password) < config.password_min_length:
        raise InvalidInput(
            f"password must be at least {config.password_min_length} characters",
            field="password",
            min_length=config.password_min_length,
        )


def check_registration_open(config: ApiConfig) -> None:
    """Forbidden when registration is off (`RAYCHAT_ALLOW_REGISTRATION`; off in prod)."""
    if not config.allow_registration:
        raise Forbidden("Registration is disabled on this server")


async def do_register(
    runtime: Runtime, config: ApiConfig, body: UserCreate, passwords: PasswordHashing
) -> UserPublic:
    """Create an account. In dev (`first_user_admin`) the database's first account becomes
    admin, atomically in storage; in prod every registrant is a plain user. Raises Forbidden
    when registration is disabled, Conflict when the name is taken, RateLimited when the
    hashing pool is full."""
    check_registration_open(config)
    check_password(config, body.password)
    password_hash = await passwords.hash(body.password)
    role = None if config.first_user_admin else "user"
    user = await runtime.storage.create_user(body.user_name, password_hash, role)
    if user is None:
        raise Conflict("This user name is taken", user_name=body.user_name)
    ROLE_CACHE.forget(user.id)
    await record_audit(runtime, audit_entry(user.id, "user.register", "user", user.id))
    return UserPublic(user_id=user.id, user_name=user.user_name, role=user.role)


async def do_login(
    runtime: Runtime, config: ApiConfig, body: UserCreate, passwords: PasswordHashing
) -> LoginPublic:
    """Check the password and issue a token carrying the stored role. Unauthorized (the same
    message whether the user or the password is wrong); RateLimited when the hashing pool is
    full."""
    user = await runtime.storage.get_user_by_name(body.user_name)
    encoded = None if user is None else user.password_hash
    if not await passwords.verify(encoded, body.password) or user is None:
        raise Unauthorized(BAD_LOGIN)
    principal = Principal(user.id, user.user_name, user.role)
    token = issue_token(await signing_secret(runtime), principal, config.jwt_expire_s)
    return LoginPublic(user_id=user.id, user_name=user.user_name, access_token=token)
