"""Resolving `Config.User` (`name`, `uid`, `name:group`, `uid:gid`) against the image's files."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InvalidParameter


@dataclass
class ResolvedUser:
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)


def _parse_db(text: str, min_fields: int) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) >= min_fields:
            out.append(parts)
    return out


def resolve_user(spec: str, passwd: str, group: str) -> ResolvedUser:
    """Docker's rules: a name must exist in /etc/passwd; a numeric uid need not."""
    user, _, grp = spec.partition(":")
    users = _parse_db(passwd, 7)
    groups = _parse_db(group, 4)
    uid, gid, username = 0, 0, ""
    if user == "":
        user = "0"
    if user.isdigit():
        uid = int(user)
        for p in users:
            if p[2].isdigit() and int(p[2]) == uid:
                username, gid = p[0], int(p[3]) if p[3].isdigit() else 0
                break
    else:
        for p in users:
            if p[0] == user:
                username, uid, gid = p[0], int(p[2]), int(p[3]) if p[3].isdigit() else 0
                break
        else:
            raise InvalidParameter(
                f"unable to find user {user}: no matching entries in passwd file")
    if grp:
        if grp.isdigit():
            gid = int(grp)
        else:
            for g in groups:
                if g[0] == grp:
                    gid = int(g[2])
                    break
            else:
                raise InvalidParameter(
                    f"unable to find group {grp}: no matching entries in group file")
    # The primary gid leads the supplementary list (moby since CVE-2022-36109: a process must not be able
    # to shed its primary group), then the groups that list the user by name.
    extra: list[int] = [gid]
    if username and not grp:
        for g in groups:
            members = [m for m in g[3].split(",") if m]
            if username in members and g[2].isdigit() and int(g[2]) not in extra:
                extra.append(int(g[2]))
    return ResolvedUser(uid, gid, extra)
