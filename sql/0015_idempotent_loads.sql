-- Idempotent loads (issue 11 point 6): message activity gets a key, so that loading a file twice counts nothing
-- twice. A row is identified by its optional client `activity_id` when the file has one, otherwise by its
-- natural key (profile, campaign, kind, occurred_at).

ALTER TABLE segpipe.activity ADD COLUMN activity_id text;

-- A database loaded before this migration may hold exact repeats (a file loaded twice). Keep the first copy
-- (lowest id) of each natural key and delete the others, so that the unique index below can be built.
-- Anonymized rows (profile_id NULL, their profile deleted) are left alone: the rows of different deleted
-- profiles cannot be told apart any more, and deletion must not change campaign statistics.
DELETE FROM segpipe.activity later
USING segpipe.activity earlier
WHERE later.profile_id IS NOT NULL
  AND earlier.profile_id = later.profile_id
  AND earlier.campaign = later.campaign
  AND earlier.kind = later.kind
  AND earlier.occurred_at = later.occurred_at
  AND earlier.id < later.id;

-- The natural key of rows without an activity_id. Anonymized rows are outside it: a deleted profile's activity
-- keeps its count whatever is loaded later (a reload of its rows is rejected: its external_id is unknown).
CREATE UNIQUE INDEX activity_natural_key ON segpipe.activity (profile_id, campaign, kind, occurred_at)
    WHERE activity_id IS NULL AND profile_id IS NOT NULL;

-- The client's id of an activity row, unique when given (kept when the row is anonymized).
CREATE UNIQUE INDEX activity_activity_id_key ON segpipe.activity (activity_id) WHERE activity_id IS NOT NULL;
