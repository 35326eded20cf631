SELECT id, user_id, message_count AS n FROM conversations
