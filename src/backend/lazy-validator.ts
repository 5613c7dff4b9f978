// A JSON Schema validator for SDK servers that builds its Ajv instance on first use. The SDK's
// Server builds one in its constructor (about 18 KiB of heap, a third of an idle session with a
// small McpServer) although a server only uses it to check elicitation answers. One per server,
// not shared: Ajv keeps every schema it compiles, so a shared instance would grow with every
// elicitation of every session.
import type { JsonSchemaType, JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';

/** Pass as `jsonSchemaValidator` to `new McpServer(info, options)` or `new Server(info, options)`. */
export function lazyJsonSchemaValidator(): jsonSchemaValidator {
  let ajv: AjvJsonSchemaValidator | undefined;
  return {
    getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
      ajv ??= new AjvJsonSchemaValidator();
      return ajv.getValidator<T>(schema);
    },
  };
}
