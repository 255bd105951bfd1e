-- Memberships without a foreign key to their segment (src/segpipe/store/memberships.py, BENCHMARKS.md "Refresh").
--
-- A refresh inserts every new member of a segment; the foreign key checked each inserted row against
-- `segments` one by one, 30-55% of the time of writing a first refresh's rows (2M rows: 8.5 s with the key,
-- 3.9-6.1 s without). Memberships are written only by refresh, which holds the segment's refresh lock, and
-- removed with their segment by `segment delete`, which takes the same lock: the key guarded nothing that
-- the lock does not.
ALTER TABLE segpipe.memberships DROP CONSTRAINT IF EXISTS memberships_segment_id_fkey;
