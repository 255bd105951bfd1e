-- Loaded contents (docs/loading.md "Loading the same file again"): events without an `event_id` append by
-- contract, so a second load of the same events file would count every such event twice. A load of events
-- records a digest of its parsed rows here, in its own transaction; a later load of exactly the same rows
-- (same file, or the same data in another format) changes nothing and reports every row as already known.
CREATE TABLE segpipe.loaded_contents (
    kind       text        NOT NULL,
    sha256     text        NOT NULL,
    rows       bigint      NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    loaded_by  text        NOT NULL DEFAULT session_user,
    PRIMARY KEY (kind, sha256)
);
