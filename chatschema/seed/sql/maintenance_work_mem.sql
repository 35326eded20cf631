-- For the rest of the load's transaction: index builds sort in memory (shared by the parallel
-- workers), and a foreign key's validation joins with this as its work_mem. Never lowered: the
-- server's own setting stands if it is larger.
SELECT set_config('maintenance_work_mem',
                  greatest(pg_size_bytes(current_setting('maintenance_work_mem')), pg_size_bytes('1GB')) / 1024 || 'kB',
                  true)
