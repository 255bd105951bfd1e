-- Segment lifecycle (src/segpipe/lifecycle): a log of what people and schedules did to a segment.
--
-- Status changes (active/inactive) stay in segment_status_changes; this log holds the other lifecycle actions:
-- archive, unarchive, resume, rename, clone (on the new segment), schedule and clear a schedule, and scheduled
-- activations. The grace period of the inactivity classification counts from the latest `resumed` or `activated`
-- row. Rows go with their segment (ON DELETE CASCADE); segment_deletions keeps the tombstone.

CREATE TABLE segpipe.segment_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    segment_id  bigint      NOT NULL REFERENCES segpipe.segments (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    action      text        NOT NULL CHECK (action IN (
                    'archived', 'unarchived', 'resumed', 'renamed', 'cloned', 'scheduled', 'schedule_cleared',
                    'activated', 'deactivated')),
    actor       text,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX segment_events_segment_idx ON segpipe.segment_events (segment_id, action, at DESC);
