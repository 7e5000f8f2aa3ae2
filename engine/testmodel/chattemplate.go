package testmodel

import (
	"os"
	"path/filepath"
)

// Llama2ChatTemplate is Llama-2-chat's Jinja chat template as published with
// the model. The Llama 2 tokenizer files in ../shared/testdata carry none, so
// tests that chat with a test model add this one.
const Llama2ChatTemplate = `{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}`

// WriteChat writes a test model like Write and adds Llama2ChatTemplate as
// chat_template.jinja, so chat requests render as they would for a real
// Llama-2-chat model.
func WriteChat(dir string, spec Spec) error {
	if err := Write(dir, spec); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(Llama2ChatTemplate), 0o644)
}
