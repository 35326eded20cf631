-- chatschema-query: recent_messages
-- summary: A page of a conversation's newest messages (id, role, time), older pages by a keyset
--   cursor on (created_at, id), served by ix_messages_conversation_recent with the cursor in its
--   Index Cond: a page costs the same at message 1 and at message 10,000.
-- revision: head
-- page-rows: 21
-- uses: ix_messages_conversation_recent on messages (conversation_id, created_at, id)
-- max-rows-read: 21
-- max-buffers: 12
-- param conversation_id: longest conversation
-- param limit: 21
-- case longest conversation, first page: before_at = first page at; before_id = first page id
-- case longest conversation, deep page: before_at = deep message cursor at; before_id = deep message cursor id
-- case empty conversation: conversation_id = empty conversation; before_at = first page at; before_id = first page id
SELECT m.id, m.role, m.created_at
FROM messages m
WHERE m.conversation_id = %(conversation_id)s
  AND (m.created_at, m.id) < (%(before_at)s, %(before_id)s)
ORDER BY m.created_at DESC, m.id DESC
LIMIT %(limit)s;
