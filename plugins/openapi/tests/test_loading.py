"""Loading: sources, `$ref`s of every kind, schema normalisation, names, filters and broken specs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from toolwire import ToolRegistry
from toolwire_openapi import OpenAPILoader, SpecError
from toolwire_openapi.plugin import toolwire_detect_loader

SERVERS = [{"url": "http://127.0.0.1:9"}]


def spec(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "servers": SERVERS, "paths": paths, **extra}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_refs_to_other_files_resolve_relative_to_the_referring_file(tmp_path: Path) -> None:
    write(tmp_path / "common" / "ids.yaml", """
        Id: {type: integer, description: An id., minimum: 1}
    """)
    write(tmp_path / "schemas" / "pet.yaml", """
        Pet:
          type: object
          required: [name]
          properties:
            name: {type: string}
            owner: {$ref: '../common/ids.yaml#/Id'}
    """)
    main = write(tmp_path / "api.yaml", """
        openapi: 3.0.3
        info: {title: t, version: '1'}
        servers: [{url: 'http://127.0.0.1:9'}]
        paths:
          /pets/{id}:
            parameters:
              - $ref: '#/components/parameters/PetId'
            put:
              operationId: putPet
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: 'schemas/pet.yaml#/Pet'}
        components:
          parameters:
            PetId: {name: id, in: path, required: true, schema: {$ref: 'common/ids.yaml#/Id'}}
    """)
    [tool] = OpenAPILoader().load(str(main))
    assert tool.parameters["properties"] == {
        "id": {"type": "integer", "description": "An id.", "minimum": 1},
        "name": {"type": "string"},
        "owner": {"type": "integer", "description": "An id.", "minimum": 1},
    }
    assert tool.parameters["required"] == ["id", "name"]


def test_31_id_and_anchor_refs() -> None:
    document = {
        "openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "servers": SERVERS,
        "paths": {"/things": {"post": {"operationId": "make", "requestBody": {"content": {"application/json": {
            "schema": {"type": "object", "properties": {
                "by_id": {"$ref": "https://example.com/schemas/thing"},
                "by_anchor": {"$ref": "#colour"},
                "by_id_and_anchor": {"$ref": "https://example.com/schemas/thing#size"},
            }}}}}}}},
        "components": {"schemas": {
            "Thing": {"$id": "https://example.com/schemas/thing", "type": "string", "$defs": {
                "Size": {"$anchor": "size", "type": "integer"}}},
            "Colour": {"$anchor": "colour", "enum": ["red", "green"]},
        }},
    }
    [tool] = OpenAPILoader().load(document)
    assert tool.parameters["properties"] == {
        "by_id": {"type": "string"}, "by_anchor": {"enum": ["red", "green"]}, "by_id_and_anchor": {"type": "integer"},
    }


def test_cycles_allof_nullable_and_type_lists() -> None:
    document = spec({"/nodes": {"post": {"operationId": "addNode", "requestBody": {"content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Node"}}}}}}}, components={"schemas": {
            "Node": {"allOf": [{"$ref": "#/components/schemas/Base"}, {
                "type": "object", "required": ["children"],
                "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                               "label": {"type": "string", "nullable": True},
                               "id": {"type": "integer", "readOnly": True},
                               "kind": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                               "limit": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}}]},
            "Base": {"type": "object", "required": ["name", "id"], "properties": {"name": {"type": "string"}}},
        }})
    [tool] = OpenAPILoader().load(document)
    properties = tool.parameters["properties"]
    assert set(properties) == {"name", "children", "label", "kind", "limit"}  # readOnly id is never sent
    assert properties["children"]["items"]["description"].startswith("A recursive #/components/schemas/Node")
    assert properties["label"] == {"type": ["string", "null"]}
    assert properties["kind"] == {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    assert properties["limit"] == {"type": "number", "exclusiveMinimum": 0}
    three_one = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "servers": SERVERS,
                 "paths": {"/x": {"get": {
        "parameters": [{"name": "q", "in": "query", "schema": {"type": ["integer"]}},
                       {"name": "r", "in": "query", "schema": {"type": ["string", "null"]}}]}}}}
    [tool] = OpenAPILoader().load(three_one)
    assert tool.parameters["properties"] == {"q": {"type": "integer"}, "r": {"type": ["string", "null"]}}


def test_broken_specs_name_the_file_and_the_pointer(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.yaml", """
        openapi: 3.0.0
        info: {title: t, version: '1'}
        paths:
          /a:
            get:
              parameters:
                - $ref: '#/components/parameters/Missing'
    """)
    with pytest.raises(SpecError) as caught:
        OpenAPILoader().load(str(broken))
    assert str(caught.value).startswith(f"{broken}#/paths/~1a/get/parameters/0: cannot resolve $ref")
    other = write(tmp_path / "other.yaml", "params:\n  - {$ref: 'nowhere.yaml#/X'}\n")
    referring = {"swagger": "2.0", "paths": {"/a": {"get": {"parameters": [{"$ref": f"{other}#/params/0"}]}}}}
    with pytest.raises(SpecError, match=rf"^{other}#/params/0: cannot resolve \$ref 'nowhere.yaml#/X'"):
        OpenAPILoader().load(referring)
    bad_yaml = write(tmp_path / "bad.yaml", "openapi: 3.0.0\npaths: [unclosed\n")
    with pytest.raises(SpecError, match=rf"^{bad_yaml}:3:1: invalid YAML"):
        OpenAPILoader().load(str(bad_yaml))
    with pytest.raises(SpecError, match=r"#/paths/~1a/get/parameters/0: a parameter needs a 'name'"):
        OpenAPILoader().load(spec({"/a": {"get": {"parameters": [{"in": "query"}]}}}))
    with pytest.raises(SpecError, match=r"#/openapi: not OpenAPI 3.x or Swagger 2.0"):
        OpenAPILoader().load({"openapi": "4.0", "paths": {}})
    assert OpenAPILoader().load({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}}) == []



def test_a_value_of_the_wrong_shape_or_an_invalid_schema_is_refused_naming_the_operation() -> None:
    wrong_shape = spec({"/a": {"post": {"requestBody": {"content": {"application/json": 1.5}}}}})
    with pytest.raises(SpecError, match=r"#/paths/~1a/post: cannot read this operation \(AttributeError: 'float' "
                                        r"object has no attribute 'get'\); a value in it does not have the shape "
                                        r"OpenAPI 3.x gives it"):
        OpenAPILoader().load(wrong_shape)
    invalid = spec({"/b": {"get": {"parameters": [{"name": "x", "in": "query", "schema": {"type": "{id}"}}]}}})
    with pytest.raises(SpecError, match=r"#/paths/~1b/get: its parameters would not be a valid JSON Schema \(at "
                                        r"'properties/x/type': .*exclude_operations= or exclude_paths="):
        OpenAPILoader().load(invalid)
    dangling = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "servers": SERVERS,
                "paths": {"/c": {"get": {"parameters": [{"$ref": "#/servers/url"}]}}}}
    with pytest.raises(SpecError, match=r"^<spec>#/paths/~1c/get/parameters/0: cannot resolve \$ref '#/servers/url' "
                                        r"\(ValueError"):
        OpenAPILoader().load(dangling)


def test_a_dict_specs_relative_refs_resolve_in_the_current_directory_and_its_errors_name_it_spec(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "params.yaml", "limit: {name: limit, in: query, schema: {type: integer}}\n")
    monkeypatch.chdir(tmp_path)
    [tool] = OpenAPILoader().load(spec({"/a": {"get": {"parameters": [{"$ref": "params.yaml#/limit"}]}}}))
    assert tool.parameters["properties"] == {"limit": {"type": "integer"}}
    with pytest.raises(SpecError, match=r"^<spec>#/paths/~1a/get/parameters/0: cannot resolve \$ref 'gone.yaml#/x'"):
        OpenAPILoader().load(spec({"/a": {"get": {"parameters": [{"$ref": "gone.yaml#/x"}]}}}))

def test_names_are_valid_unique_and_stable() -> None:
    paths = {
        "/a/b.c": {"get": {"operationId": "tags/list v2.1"}, "post": {}},
        "/x": {"get": {"operationId": "tags_list_v2_1"}, "put": {"operationId": "x" * 80}},
        "/y": {"delete": {"operationId": "x" * 80}},
    }
    names = [t.name for t in OpenAPILoader().load(spec(paths))]
    assert names[:4] == ["tags_list_v2_1", "post_a_b_c", "tags_list_v2_1_2", names[3]]
    assert len(names[3]) == 64 and len(set(names)) == 5
    assert names == [t.name for t in OpenAPILoader().load(spec(paths))]


def test_filters_by_operation_tag_path_and_method() -> None:
    paths = {
        "/pets": {"get": {"operationId": "listPets", "tags": ["pets"]},
                  "post": {"operationId": "addPet", "tags": ["pets", "admin"]}},
        "/users/{id}": {"patch": {"operationId": "patchUser", "tags": ["users"]},
                        "delete": {"operationId": "deleteUser", "tags": ["users", "admin"]}},
    }

    def names(**options: Any) -> list[str]:
        return [t.name for t in OpenAPILoader(**options).load(spec(paths))]

    assert names() == ["listPets", "addPet", "deleteUser", "patchUser"]
    assert names(operations=["*Pet*"]) == ["listPets", "addPet"]
    assert names(exclude_operations="list*") == ["addPet", "deleteUser", "patchUser"]
    assert names(only_tags="users") == ["deleteUser", "patchUser"]
    assert names(exclude_tags=["admin"]) == ["listPets", "patchUser"]
    assert names(paths="/users/*") == ["deleteUser", "patchUser"]
    assert names(methods=["PATCH", "get"]) == ["listPets", "patchUser"]
    with pytest.raises(ValueError, match="unknown HTTP method"):
        OpenAPILoader(methods=["FETCH"])


def test_the_client_option_makes_sync_or_async_tools() -> None:
    paths = {"/pets": {"get": {"operationId": "listPets"}}}
    [sync] = OpenAPILoader().load(spec(paths))
    [asynchronous] = OpenAPILoader(client="async").load(spec(paths))
    assert (sync.is_async, asynchronous.is_async) == (False, True)
    assert repr(asynchronous.invoker) == "AsyncOpenAPIInvoker(GET /pets)"
    with pytest.raises(ValueError, match="client is 'sync' or 'async'"):
        OpenAPILoader(client="threads")


def test_clashing_names_are_prefixed_with_their_place() -> None:
    document = spec({"/things/{id}": {"post": {
        "operationId": "update",
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}, "description": "Thing."},
            {"name": "id", "in": "query", "schema": {"type": "integer"}},
            {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
            {"name": "filter[name]", "in": "query", "schema": {"type": "string"}},
            {"name": "Accept", "in": "header", "schema": {"type": "string"}},
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["id"],
            "properties": {"id": {"type": "string"}, "note": {"type": "string"}}}}}},
    }}})
    [tool] = OpenAPILoader().load(document)
    properties = tool.parameters["properties"]
    assert list(properties) == ["path_id", "query_id", "X-Trace", "filter_name", "body_id", "note"]
    assert properties["path_id"]["description"] == "The path parameter 'id'. Thing."
    assert properties["body_id"]["description"] == "The body field 'id'."
    assert tool.parameters["required"] == ["path_id", "body_id"]
    assert tool.parameters["additionalProperties"] is False


def test_swagger2_parameters_and_server(tmp_path: Path) -> None:
    document = {
        "swagger": "2.0", "info": {"title": "t", "version": "1"}, "host": "api.example.com", "basePath": "/v1",
        "schemes": ["http", "https"],
        "paths": {"/files": {"post": {
            "operationId": "upload", "consumes": ["multipart/form-data"],
            "parameters": [
                {"name": "ids", "in": "query", "type": "array", "items": {"type": "integer"},
                 "collectionFormat": "pipes"},
                {"name": "file", "in": "formData", "type": "file", "required": True},
                {"name": "note", "in": "formData", "type": "string", "x-nullable": True},
            ]}}},
    }
    [tool] = OpenAPILoader().load(document)
    assert tool.invoker.service.base_url == "https://api.example.com/v1"
    assert tool.parameters["properties"] == {
        "ids": {"type": "array", "items": {"type": "integer"}},
        "file": {"type": "string", "format": "binary"},
        "note": {"type": ["string", "null"]},
    }
    body = tool.invoker.operation.body
    assert body.media_type == "multipart/form-data" and body.files == frozenset({"file"})
    assert tool.invoker.operation.params[0].style == "pipeDelimited"


def test_servers_variables_and_relative_urls(service) -> None:
    document = spec({"/a": {"get": {}}}, servers=[{"url": "https://{region}.example.com/{v}",
                                                   "variables": {"region": {"default": "eu"}, "v": {"default": "v2"}}}])
    [tool] = OpenAPILoader().load(document)
    assert tool.invoker.service.base_url == "https://eu.example.com/v2"
    [tool] = OpenAPILoader(server_variables={"region": "us"}).load(document)
    assert tool.invoker.service.base_url == "https://us.example.com/v2"
    [tool] = OpenAPILoader(base_url="http://127.0.0.1:9/api/").load(document)
    assert tool.invoker.service.base_url == "http://127.0.0.1:9/api"
    relative = OpenAPILoader().load(service.url + "/openapi.json")
    assert {t.invoker.service.base_url for t in relative} == {service.url}


def test_a_service_base_url_is_searched_for_its_spec(service, echo) -> None:
    by_base = OpenAPILoader().load(service.url)
    by_spec = OpenAPILoader().load(service.url + "/openapi.json")
    assert [t.name for t in by_base] == [t.name for t in by_spec] and len(by_base) > 10
    with pytest.raises(SpecError, match="none found at the usual locations"):
        OpenAPILoader().load(echo.url + "/api")


def test_detection_and_registry_integration(tmp_path: Path, specs: Path) -> None:
    assert toolwire_detect_loader({"openapi": "3.1.0"}) == "openapi"
    assert toolwire_detect_loader({"swagger": "2.0"}) == "openapi"
    assert toolwire_detect_loader({"name": "x"}) is None
    assert toolwire_detect_loader("https://api.example.com/openapi.json") == "openapi"
    assert toolwire_detect_loader("https://api.example.com/v3/api-docs") == "openapi"
    assert toolwire_detect_loader("https://example.com/data.json") is None
    assert toolwire_detect_loader(str(specs / "swagger2-petstore.yaml")) == "openapi"
    assert toolwire_detect_loader(str(write(tmp_path / "config.yaml", "name: x\n"))) is None
    with ToolRegistry(executor="thread") as registry:
        registry.register(json.loads((specs / "oas30-oai-petstore-expanded.json").read_text()), namespace="pets")
        assert [t.name for t in registry] == ["pets_addPet", "pets_deletePet", "pets_findPets", "pets_find_pet_by_id"]
        assert registry.get("pets_deletePet").annotations.destructive is True
        assert registry.get("pets_findPets").annotations.read_only is True
