"""Vetting: verdicts, tags and comments on candidates and sources, and image ratings.

Every act is one :class:`~dsa110_contimg.products.models.Annotation` row,
never updated or deleted: the history is the record. The current state is
derived from it (the last verdict, the tags added and not removed since, each
comment with its latest text), except where a list needs a fast filter: a
candidate's verdict is also its ``status`` (with ``reviewed_by`` and
``reviewed_at``), an image's rating its ``rating``.

The list filters (:func:`tag_filter`, :func:`unvetted_filter`,
:func:`source_verdict_filter`) are declared on the candidates' and sources'
listings, so REST, GraphQL and the exports all take them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from dsa110_contimg.products.models import (
    Annotation,
    AnnotationKind,
    AnnotationTarget,
    Candidate,
    CandidateKind,
    CandidateStatus,
    Image,
    ImageRating,
    Photometry,
    Source,
    utcnow,
)
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.query import (
    Filter,
    InvalidQueryError,
    NotFoundError,
    columns_of,
    in_chunks,
)

#: Longest tag, and the characters a tag may hold besides letters and digits.
MAX_TAG = 64
TAG_PUNCTUATION = "-_.:+/"

#: Longest comment or reason.
MAX_TEXT = 4000

#: The verdicts a person can give (a candidate's ``new`` is "not yet looked at").
VERDICTS = (
    CandidateStatus.CONFIRMED,
    CandidateStatus.DISMISSED,
    CandidateStatus.NEEDS_FOLLOW_UP,
)

_MODELS = {AnnotationTarget.CANDIDATE: Candidate, AnnotationTarget.SOURCE: Source}


def _check_target(session: Session, target: AnnotationTarget | str, target_id: int) -> Any:
    kind = AnnotationTarget(target)
    model = _MODELS.get(kind, Image if kind is AnnotationTarget.IMAGE else None)
    row = session.get(model, target_id)
    if row is None:
        raise NotFoundError(f"{kind.value} {target_id} is not registered")
    return row


def normalise_tag(tag: str) -> str:
    """A tag as stored: trimmed, lower case; :class:`InvalidQueryError` when empty or odd."""
    value = tag.strip().lower()
    if not value or len(value) > MAX_TAG:
        raise InvalidQueryError(f"a tag must be 1..{MAX_TAG} characters")
    if not all(c.isalnum() or c in TAG_PUNCTUATION for c in value):
        raise InvalidQueryError(
            f"tag {tag!r} may hold only letters, digits and {TAG_PUNCTUATION}",
            hint="e.g. flare, rfi, follow-up:vla",
        )
    return value


def _text(text: str | None, what: str, *, required: bool) -> str | None:
    value = (text or "").strip()
    if required and not value:
        raise InvalidQueryError(f"a {what} needs some text")
    if len(value) > MAX_TEXT:
        raise InvalidQueryError(f"a {what} must be at most {MAX_TEXT} characters")
    return value or None


def _add(
    session: Session,
    target: AnnotationTarget,
    target_id: int,
    kind: AnnotationKind,
    *,
    by: str,
    value: str | None = None,
    text: str | None = None,
    comment_id: int | None = None,
) -> Annotation:
    row = Annotation(
        target_kind=target,
        target_id=target_id,
        kind=kind,
        value=value,
        text=text,
        comment_id=comment_id,
        author=by[:64],
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    payload = {"id": row.id, "target": target.value, "target_id": target_id, "kind": kind.value}
    publish_event(session, "annotation", kind.value, payload)
    return row


# ---------------------------------------------------------------------------
# writes
# ---------------------------------------------------------------------------
def record_verdict(
    session: Session,
    target: AnnotationTarget | str,
    target_id: int,
    verdict: CandidateStatus | str,
    reason: str | None = None,
    *,
    by: str,
) -> Annotation:
    """A verdict on a candidate or a source, with its reason; a candidate's ``status`` follows.

    ``verdict`` is confirmed, dismissed or needs_follow_up; on a candidate also
    ``new`` (taken back: looked at again later).
    """
    kind = AnnotationTarget(target)
    if kind is AnnotationTarget.IMAGE:
        raise InvalidQueryError("an image is rated, not given a verdict")
    try:
        value = CandidateStatus(verdict)
    except ValueError:
        raise InvalidQueryError(
            f"verdict must be one of {', '.join(v.value for v in VERDICTS)}, not {verdict!r}"
        ) from None
    if value is CandidateStatus.NEW and kind is AnnotationTarget.SOURCE:
        raise InvalidQueryError("a source's verdict is confirmed, dismissed or needs_follow_up")
    row = _check_target(session, kind, target_id)
    reason = _text(reason, "reason", required=False)
    if kind is AnnotationTarget.CANDIDATE:
        row.status = value
        if reason is not None:
            row.note = reason
        row.reviewed_by, row.reviewed_at = by[:64], utcnow()
        session.flush()
        payload = {"id": row.id, "status": value.value, "by": by}
        publish_event(session, "candidate", "status", payload)
    return _add(session, kind, target_id, AnnotationKind.VERDICT, by=by, value=value, text=reason)


def add_tag(
    session: Session, target: AnnotationTarget | str, target_id: int, tag: str, *, by: str
) -> Annotation | None:
    """Tag a candidate or a source (None when it already carries the tag)."""
    kind = AnnotationTarget(target)
    value = normalise_tag(tag)
    _check_target(session, kind, target_id)
    if value in current_tags(session, kind, target_id):
        return None
    return _add(session, kind, target_id, AnnotationKind.TAG, by=by, value=value)


def remove_tag(
    session: Session, target: AnnotationTarget | str, target_id: int, tag: str, *, by: str
) -> Annotation:
    """Take a tag off (the history keeps that it was there); 404 when it is not on."""
    kind = AnnotationTarget(target)
    value = normalise_tag(tag)
    _check_target(session, kind, target_id)
    if value not in current_tags(session, kind, target_id):
        raise NotFoundError(f"{kind.value} {target_id} has no tag {value!r}")
    return _add(session, kind, target_id, AnnotationKind.UNTAG, by=by, value=value)


def add_comment(
    session: Session, target: AnnotationTarget | str, target_id: int, text: str, *, by: str
) -> Annotation:
    """A comment on a candidate or a source."""
    kind = AnnotationTarget(target)
    _check_target(session, kind, target_id)
    body = _text(text, "comment", required=True)
    return _add(session, kind, target_id, AnnotationKind.COMMENT, by=by, text=body)


def edit_comment(session: Session, comment_id: int, text: str, *, by: str) -> Annotation:
    """A new text for a comment; the earlier texts stay in the history."""
    comment = session.get(Annotation, comment_id)
    if comment is None or comment.kind is not AnnotationKind.COMMENT:
        raise NotFoundError(f"comment {comment_id} does not exist")
    body = _text(text, "comment", required=True)
    return _add(
        session,
        comment.target_kind,
        comment.target_id,
        AnnotationKind.COMMENT_EDIT,
        by=by,
        text=body,
        comment_id=comment_id,
    )


def rate_image(
    session: Session, image_id: int, rating: ImageRating | str, comment: str | None, *, by: str
) -> list[int]:
    """Rate an image good or bad; return the ids of the image rows the rating covers.

    The rating covers every product of the same imaging run (flat, pb-corrected,
    residual...: the rows of the same MS and version), so a bad epoch is left
    out wherever it is used. The history row is on the image rated.
    """
    try:
        value = ImageRating(rating)
    except ValueError:
        raise InvalidQueryError(f"rating must be good or bad, not {rating!r}") from None
    image = _check_target(session, AnnotationTarget.IMAGE, image_id)
    text = _text(comment, "comment", required=False)
    ids = [image_id]
    if image.ms_id is not None:
        stmt = sa.select(Image.id).where(Image.ms_id == image.ms_id, Image.version == image.version)
        ids = sorted(set(session.scalars(stmt)) | {image_id})
    session.execute(sa.update(Image).where(Image.id.in_(ids)).values(rating=value))
    session.expire_all()
    _add(
        session,
        AnnotationTarget.IMAGE,
        image_id,
        AnnotationKind.RATING,
        by=by,
        value=value,
        text=text,
    )
    publish_event(session, "image", "rated", {"id": image_id, "images": ids, "rating": value.value})
    return ids


# ---------------------------------------------------------------------------
# reads
# ---------------------------------------------------------------------------
def annotation_history(
    session: Session, target: AnnotationTarget | str, target_id: int
) -> list[dict[str, Any]]:
    """Every annotation of one target, oldest first, as dictionaries."""
    kind = AnnotationTarget(target)
    stmt = (
        sa.select(Annotation)
        .where(Annotation.target_kind == kind, Annotation.target_id == target_id)
        .order_by(Annotation.id)
    )
    out = []
    for row in session.scalars(stmt):
        item = columns_of(row)
        item["target_kind"], item["kind"] = row.target_kind.value, row.kind.value
        out.append(item)
    return out


def _tags_of(history: list[dict[str, Any]]) -> list[str]:
    tags: dict[str, None] = {}
    for row in history:
        if row["kind"] == "tag":
            tags[row["value"]] = None
        elif row["kind"] == "untag":
            tags.pop(row["value"], None)
    return list(tags)


def current_tags(session: Session, target: AnnotationTarget | str, target_id: int) -> list[str]:
    """The tags on a target now, in the order they were added."""
    return _tags_of(annotation_history(session, target, target_id))


def vetting_of(session: Session, target: AnnotationTarget | str, target_id: int) -> dict[str, Any]:
    """The vetting of a candidate or a source: current verdict, tags, comments, and history.

    Returns
    -------
    dict
        ``verdict`` (the last, or None), ``reason``, ``verdict_by``,
        ``verdict_at``; ``tags``; ``comments`` (each ``id``, ``text`` (the
        latest), ``author``, ``created_at``, ``edited_at``, ``edited_by`` and
        ``versions``: every text in order); ``history`` (every row).
    """
    kind = AnnotationTarget(target)
    _check_target(session, kind, target_id)
    history = annotation_history(session, kind, target_id)
    verdicts = [r for r in history if r["kind"] == "verdict"]
    last = verdicts[-1] if verdicts else None
    comments: dict[int, dict[str, Any]] = {}
    for row in history:
        if row["kind"] == "comment":
            comments[row["id"]] = {
                "id": row["id"],
                "text": row["text"],
                "author": row["author"],
                "created_at": row["created_at"],
                "edited_at": None,
                "edited_by": None,
                "versions": [
                    {"text": row["text"], "author": row["author"], "at": row["created_at"]}
                ],
            }
        elif row["kind"] == "comment_edit" and row["comment_id"] in comments:
            c = comments[row["comment_id"]]
            c["text"], c["edited_at"], c["edited_by"] = (
                row["text"],
                row["created_at"],
                row["author"],
            )
            c["versions"].append(
                {"text": row["text"], "author": row["author"], "at": row["created_at"]}
            )
    return {
        "target_kind": kind.value,
        "target_id": target_id,
        "verdict": last["value"] if last else None,
        "reason": last["text"] if last else None,
        "verdict_by": last["author"] if last else None,
        "verdict_at": last["created_at"] if last else None,
        "tags": _tags_of(history),
        "comments": list(comments.values()),
        "history": history,
    }


def known_tags(session: Session, target: AnnotationTarget | str | None = None) -> list[str]:
    """Every tag ever given (to candidates, sources or both), sorted (for suggestions)."""
    stmt = sa.select(Annotation.value).where(Annotation.kind == AnnotationKind.TAG).distinct()
    if target is not None:
        stmt = stmt.where(Annotation.target_kind == AnnotationTarget(target))
    return sorted(v for v in session.scalars(stmt) if v)


def image_rating_history(session: Session, image_id: int) -> list[dict[str, Any]]:
    """The ratings given to an image (and the rows of its run: the same MS and version)."""
    image = _check_target(session, AnnotationTarget.IMAGE, image_id)
    ids = [image_id]
    if image.ms_id is not None:
        stmt = sa.select(Image.id).where(Image.ms_id == image.ms_id, Image.version == image.version)
        ids = list(session.scalars(stmt))
    stmt = (
        sa.select(Annotation)
        .where(
            Annotation.target_kind == AnnotationTarget.IMAGE,
            Annotation.target_id.in_(ids),
            Annotation.kind == AnnotationKind.RATING,
        )
        .order_by(Annotation.id)
    )
    out = []
    for row in session.scalars(stmt):
        item = columns_of(row)
        item["target_kind"], item["kind"] = row.target_kind.value, row.kind.value
        out.append(item)
    return out


#: The ids of the images rated bad (a subquery: light curves, normalisation, mosaics).
BAD_IMAGE_IDS = sa.select(Image.id).where(Image.rating == ImageRating.BAD)


def bad_image_ids(session: Session) -> set[int]:
    """The ids of the images rated bad."""
    return set(session.scalars(BAD_IMAGE_IDS))


# ---------------------------------------------------------------------------
# list filters
# ---------------------------------------------------------------------------
def _is_last(kinds: list[AnnotationKind], value_too: bool) -> Any:
    """``annotations.id`` is the newest of its target's rows of these kinds (and value)."""
    inner = aliased(Annotation)
    conditions = [
        inner.target_kind == Annotation.target_kind,
        inner.target_id == Annotation.target_id,
        inner.kind.in_(kinds),
    ]
    if value_too:
        conditions.append(inner.value == Annotation.value)
    newest = sa.select(sa.func.max(inner.id)).where(*conditions).scalar_subquery()
    return Annotation.id == newest


def _has_tag(target: AnnotationTarget, id_column: Any, tag: str) -> Any:
    """Targets whose last tag/untag of ``tag`` is a tag."""
    return sa.exists().where(
        Annotation.target_kind == target,
        Annotation.kind == AnnotationKind.TAG,
        Annotation.value == tag,
        Annotation.target_id == id_column,
        _is_last([AnnotationKind.TAG, AnnotationKind.UNTAG], value_too=True),
    )


def _any_annotation(target: AnnotationTarget, id_column: Any) -> Any:
    return sa.exists().where(Annotation.target_kind == target, Annotation.target_id == id_column)


def tag_filter(target: AnnotationTarget, id_column: Any) -> Filter:
    """The ``tag`` filter of a list: the rows carrying the tag now."""
    return Filter(
        "tag",
        str,
        op="where",
        max_length=MAX_TAG,
        description="Only those carrying this tag now",
        where=lambda tag: _has_tag(target, id_column, normalise_tag(tag)),
    )


def unvetted_filter(target: AnnotationTarget, id_column: Any, *extra: Any) -> Filter:
    """The ``unvetted`` filter: true, nobody has looked at it yet (no verdict, tag or comment)."""

    def where(unvetted: bool) -> Any:
        looked = sa.or_(_any_annotation(target, id_column), *extra)
        return sa.not_(looked) if unvetted else looked

    return Filter(
        "unvetted",
        bool,
        op="where",
        description="true: not yet looked at (no verdict, tag or comment); false: looked at",
        where=where,
    )


def _last_verdict_is(target: AnnotationTarget, id_column: Any, verdict: str) -> Any:
    return sa.exists().where(
        Annotation.target_kind == target,
        Annotation.kind == AnnotationKind.VERDICT,
        Annotation.value == verdict,
        Annotation.target_id == id_column,
        _is_last([AnnotationKind.VERDICT], value_too=False),
    )


def source_verdict_filter() -> Filter:
    """The sources' ``verdict`` filter: their last verdict is this one."""
    return Filter(
        "verdict",
        CandidateStatus,
        op="where",
        description="Last verdict given (confirmed, dismissed, needs_follow_up)",
        where=lambda v: _last_verdict_is(AnnotationTarget.SOURCE, Source.id, v.value),
    )


# ---------------------------------------------------------------------------
# what a rating changes
# ---------------------------------------------------------------------------
def sources_measured_on(session: Session, image_ids: list[int]) -> list[int]:
    """The ids of the sources measured on some images, sorted."""
    stmt = sa.select(Photometry.source_id).where(Photometry.image_id.in_(image_ids)).distinct()
    return sorted(int(i) for i in session.scalars(stmt))


def withdraw_unvetted_candidates(
    session: Session, source_ids: list[int], keep: list[int]
) -> list[int]:
    """Delete the light-curve candidates of these sources that nobody has looked at, but ``keep``.

    After their light curves changed (new sightings, a rating, a reprocess),
    a candidate that no longer passes goes, unless a person gave it a
    verdict, a tag or a comment.
    Returns the ids deleted (one ``candidate``/``withdrawn`` event each).
    """
    ids: list[int] = []
    kept = set(keep)
    for part in in_chunks(source_ids):
        stmt = sa.select(Candidate.id).where(
            Candidate.source_id.in_(part),
            Candidate.kind.in_([CandidateKind.VARIABLE, CandidateKind.ESE]),
            Candidate.status == CandidateStatus.NEW,
            Candidate.reviewed_at.is_(None),
            ~_any_annotation(AnnotationTarget.CANDIDATE, Candidate.id),
        )
        ids += [int(i) for i in session.scalars(stmt) if int(i) not in kept]
    if ids:
        session.execute(sa.delete(Candidate).where(Candidate.id.in_(ids)))
        for cid in ids:
            publish_event(session, "candidate", "withdrawn", {"id": cid})
    return ids
