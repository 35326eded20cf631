SELECT c.id, c.user_id, coalesce(m.n, 0) AS n
FROM conversations c
LEFT JOIN (SELECT conversation_id, count(*) AS n FROM messages GROUP BY conversation_id) m
       ON m.conversation_id = c.id
