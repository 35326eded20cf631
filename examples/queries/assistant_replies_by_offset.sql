-- chatschema-query: assistant_replies_by_offset
-- summary: A page of the assistant's replies in a conversation, paged with OFFSET. It fails its
--   contract on purpose: OFFSET reads and throws away every row before the page, so the deep page
--   reads thousands of rows where the contract allows a page of them.
-- revision: head
-- page-rows: 21
-- uses: ix_messages_conversation_recent on messages (conversation_id, created_at, id)
-- max-rows-read: 42
-- max-buffers: 20
-- param conversation_id: longest conversation
-- param limit: 21
-- case longest conversation, first page: offset = 0
-- case longest conversation, deep page: offset = deep message offset
SELECT m.id, m.content, m.created_at
FROM messages m
WHERE m.conversation_id = %(conversation_id)s
  AND m.role = 'assistant'
ORDER BY m.created_at DESC, m.id DESC
LIMIT %(limit)s OFFSET %(offset)s;
