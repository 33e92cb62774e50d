"""`qualipipe status`: where the study stands, per territory."""

from __future__ import annotations

from dataclasses import dataclass

from qualipipe.store import Study


@dataclass(frozen=True)
class TerritoryStatus:
    territory_id: str
    name: str
    founders: int
    actors: int
    sources: int
    segments: int
    reviewed_segments: int
    invited: int
    responses: int  # submitted responses of invited participants
    responses_total: int  # every submitted response (export files included)
    contributors: int = 0  # authors of written contributions, reports, workshop notes

    @property
    def reviewed_share(self) -> float:
        return self.reviewed_segments / self.segments if self.segments else 0.0

    @property
    def response_rate(self) -> float | None:
        return self.responses / self.invited if self.invited else None


def territory_statuses(study: Study) -> list[TerritoryStatus]:
    conn = study.conn
    statuses = []
    for t in conn.execute("SELECT id, name FROM territories ORDER BY id"):
        tid = t["id"]

        def count(sql: str, tid: str = tid) -> int:
            return int(conn.execute(sql, (tid,)).fetchone()[0])

        statuses.append(
            TerritoryStatus(
                territory_id=tid,
                name=t["name"],
                founders=count(
                    "SELECT count(*) FROM participants WHERE territory_id=? AND role='fondateur'"
                ),
                actors=count(
                    "SELECT count(*) FROM participants WHERE territory_id=? AND role='acteur'"
                ),
                sources=count("SELECT count(*) FROM sources WHERE territory_id=?"),
                segments=count(
                    """SELECT count(*) FROM segments s JOIN sources src ON src.id=s.source_id
                       WHERE src.territory_id=? AND s.retired=0 AND s.is_interviewer=0"""
                ),
                reviewed_segments=count(
                    """SELECT count(DISTINCT s.id) FROM segments s JOIN sources src ON src.id=s.source_id
                       JOIN decisions d ON d.segment_id=s.id
                       WHERE src.territory_id=? AND s.retired=0 AND s.is_interviewer=0"""
                ),
                invited=count(
                    """SELECT count(*) FROM survey_invitations i JOIN survey_deployments d
                       ON d.survey_id=i.survey_id WHERE d.territory_id=?"""
                ),
                responses=count(
                    """SELECT count(*) FROM survey_responses r
                       WHERE r.territory_id=? AND r.submitted=1 AND r.token != ''
                       AND EXISTS (SELECT 1 FROM survey_invitations i
                                   WHERE i.survey_id=r.survey_id AND i.token=r.token)"""
                ),
                responses_total=count(
                    "SELECT count(*) FROM survey_responses WHERE territory_id=? AND submitted=1"
                ),
                contributors=count(
                    "SELECT count(*) FROM participants WHERE territory_id=? AND role='contributeur'"
                ),
            )
        )
    return statuses
