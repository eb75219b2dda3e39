/*
 * proto: the validation rules both ends of the Defender channel apply to peer messages (the
 * Console's hub, and the fuzz harness that checks them). Every function takes untrusted JSON and
 * never trusts a length or a type it has not checked.
 */
#include <garrison/proto.h>

#include <string.h>

const char *const proto_nested_strs[] = { "projectID", "projectNumber", "zone", "cluster",
	"clusterLocation", "resourceGroup", "vmScaleSet", "subscriptionID", "location", NULL };

int proto_valid_hostname(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > PROTO_HOSTNAME_MAX)
		return 0;
	if (strncmp(s, PROTO_ENROLL_CN_PREFIX, strlen(PROTO_ENROLL_CN_PREFIX)) == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '-' || ch == '_'))
			return 0;
	}
	return 1;
}

/* A string of at most max bytes from a message without control characters (but for line breaks
 * when multiline, as in PEM), or NULL. */
const char *proto_msg_text(json_t *msg, const char *key, size_t max, int multiline)
{
	json_t *j = json_object_get(msg, key);
	const char *v = json_string_value(j);

	if (v == NULL || strlen(v) > max || strlen(v) != json_string_length(j))
		return NULL;
	for (const char *p = v; *p; p++)
		if (((unsigned char)*p < 0x20 || *p == 0x7f) &&
		    !(multiline && (*p == '\n' || *p == '\r')))
			return NULL;
	return v;
}

/* Copies the whitelisted members of a peer's object, dropping anything of the wrong type. */
json_t *proto_pick(json_t *src, const char *const *strs, const char *const *nums,
		   const char *const *objs)
{
	json_t *out = json_object();

	if (!json_is_object(src))
		return out;
	for (; strs && *strs; strs++) {
		json_t *v = json_object_get(src, *strs);
		if (json_is_string(v) && json_string_length(v) <= 1024)
			json_object_set(out, *strs, v);
	}
	for (; nums && *nums; nums++) {
		json_t *v = json_object_get(src, *nums);
		if (json_is_number(v))
			json_object_set(out, *nums, v);
	}
	for (; objs && *objs; objs++) {
		json_t *v = json_object_get(src, *objs);
		if (json_is_object(v) && json_object_size(v) <= 64)
			json_object_set_new(out, *objs, proto_pick(v, proto_nested_strs, NULL, NULL));
	}
	return out;
}
