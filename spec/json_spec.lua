--- spec/json_spec.lua -- nn.json.encode / decode (through jansson): what
-- becomes an array and what an object, exact numbers, null, and errors.
local nn = require "nn"
local H = require "spec.helpers"
local json = nn.safetensors.json      -- also nn.json once init.lua sets it

describe("nn.json.encode", function()
  it("writes scalars", function()
    assert.are.equal("1", json.encode(1))
    assert.are.equal("-7", json.encode(-7))
    assert.are.equal("1.5", json.encode(1.5))
    assert.are.equal("3.0", json.encode(3.0), "a float stays a float")
    assert.are.equal("true", json.encode(true))
    assert.are.equal("false", json.encode(false))
    assert.are.equal('"a\\"b\\\\c\\n"', json.encode('a"b\\c\n'))
    assert.are.equal("null", json.encode(nil))
    assert.are.equal("null", json.encode(json.null))
  end)

  it("makes tables with keys 1..n arrays, tables with string keys objects, {} an object", function()
    assert.are.equal("[1,2,3]", json.encode{1, 2, 3})
    assert.are.equal('{"a":1}', json.encode{a = 1})
    assert.are.equal("{}", json.encode{})
    assert.are.equal('[{},{"x":[true]}]', json.encode{{}, {x = {true}}})
    assert.are.equal('["a",null,"c"]', json.encode{"a", json.null, "c"})
  end)

  it("sorts object keys, so one table always gives one text", function()
    local t = {} t.zeta = 1 t.alpha = 2 t.Mid = 3 t["10"] = 4
    assert.are.equal('{"10":4,"Mid":3,"alpha":2,"zeta":1}', json.encode(t))
  end)

  it("writes floats so they read back exactly, with no more digits than needed", function()
    assert.are.equal("[0.1,0.001,1e300,-0.0,0.5]", json.encode{0.1, 0.001, 1e300, -0.0, 0.5})
    local values = {1 / 3, 0.1 + 0.2, math.pi, 2 ^ 53 + 0.0, -2 ^ -1022, 1.7976931348623157e308, 123456789.123}
    local back = json.decode(json.encode(values))
    for i, v in ipairs(values) do
      assert.are.equal(v, back[i], "value " .. i)
      assert.are.equal("float", math.type(back[i]))
    end
    local ints = {0, 1, -1, math.maxinteger, math.mininteger}
    local iback = json.decode(json.encode(ints))
    for i, v in ipairs(ints) do
      assert.are.equal(v, iback[i])
      assert.are.equal("integer", math.type(iback[i]))
    end
  end)

  it("indents on request", function()
    assert.are.equal('{\n  "a": [\n    1\n  ]\n}', json.encode({a = {1}}, {indent = 2}))
  end)

  it("encodes a table that appears twice (not a cycle) twice", function()
    local shared = {1}
    assert.are.equal('{"a":[1],"b":[1]}', json.encode{a = shared, b = shared})
  end)

  it("raises on values JSON cannot hold", function()
    H.assert_error_has(function() json.encode(0 / 0) end, {"json.encode: nan has no JSON form"})
    H.assert_error_has(function() json.encode{x = 1 / 0} end, {"json.encode: inf has no JSON form (at key 'x')"})
    H.assert_error_has(function() json.encode{1, -1 / 0} end, {"inf has no JSON form (at index 2)"})
    H.assert_error_has(function() json.encode{f = print} end, {"json.encode: cannot encode a function (at key 'f')"})
    H.assert_error_has(function() json.encode(nn.tensor{1}) end, {"json.encode: cannot encode a nn.Tensor"})
    H.assert_error_has(function() json.encode(coroutine.create(print)) end, {"cannot encode a thread"})
    H.assert_error_has(function() json.encode("\255") end, {"json.encode: a string is not valid UTF-8"})
    H.assert_error_has(function() json.encode{["\255"] = 1} end, {"json.encode: a key is not valid UTF-8"})
  end)

  it("raises on tables that are neither arrays nor objects", function()
    local msg = "json.encode: a table is neither an array (keys 1..n) nor an object (string keys only)"
    H.assert_error_has(function() json.encode{1, 2, x = 3} end, {msg})
    H.assert_error_has(function() json.encode{[0] = 1} end, {msg})
    H.assert_error_has(function() json.encode{[2] = 1} end, {msg})
    H.assert_error_has(function() json.encode{[1.5] = 1} end, {msg})
    H.assert_error_has(function() json.encode{1, nil, 3} end, {msg})
    H.assert_error_has(function() json.encode{a = {[true] = 1}} end, {msg .. " (at key 'a')"})
  end)

  it("raises on a cycle, and on nesting deeper than 1000", function()
    local t = {} t.self = t
    H.assert_error_has(function() json.encode(t) end, {"json.encode: a table contains itself (a cycle) (at key 'self')"})
    local a = {{}} a[1][1] = a
    H.assert_error_has(function() json.encode(a) end, {"a table contains itself"})
    local deep = {}
    for _ = 1, 1100 do deep = {deep} end
    H.assert_error_has(function() json.encode(deep) end, {"json.encode: tables nested deeper than 1000"})
    local ok_deep = {}
    for _ = 1, 900 do ok_deep = {ok_deep} end
    assert.are.equal(("["):rep(900) .. "{}" .. ("]"):rep(900), json.encode(ok_deep))
  end)

  it("checks its options", function()
    H.assert_error_has(function() json.encode({}, {indnet = 2}) end, {"bad argument #2", "json.encode has no option 'indnet'"})
    H.assert_error_has(function() json.encode({}, {indent = 40}) end, {"bad argument #2", "indent must be an integer in 0..31"})
    H.assert_error_has(function() json.encode({}, {indent = 1.5}) end, {"indent must be an integer"})
  end)
end)

describe("nn.json.decode", function()
  it("reads objects, arrays, numbers, strings, booleans and null", function()
    local v = json.decode('{"a": [1, 2.5, "x", true, false, null], "b": {"c": {}}, "d": []}')
    assert.are.same({1, 2.5, "x", true, false, json.null}, v.a)
    assert.are.equal(6, #v.a, "null keeps its place in an array")
    assert.are.equal("integer", math.type(v.a[1]))
    assert.are.equal("float", math.type(v.a[2]))
    assert.are.same({c = {}}, v.b)
    assert.are.same({}, v.d)
    assert.are.equal(json.null, json.decode("null"))
    assert.are.equal("userdata", type(json.null))
  end)

  it("reads any value at the top, escapes, and \\u0000 inside strings", function()
    assert.are.equal(42, json.decode(" 42 "))
    assert.are.equal("é\0z", json.decode('"\\u00e9\\u0000z"'))
    assert.are.equal("😀", json.decode('"\\ud83d\\ude00"'))
  end)

  it("round-trips what encode writes", function()
    local v = {name = "mlp", layers = {{type = "Linear", sizes = {784, 128}}, {type = "ReLU"}},
               lr = 1e-3, nested = {deep = {deeper = {true, false}}}, unicode = "∑ → ✓"}
    assert.are.same(v, json.decode(json.encode(v)))
    assert.are.same(v, json.decode(json.encode(v, {indent = 4})))
  end)

  it("rejects duplicate keys", function()
    H.assert_error_has(function() json.decode('{"a": 1, "a": 2}') end, {"json.decode: duplicate object key"})
    H.assert_error_has(function() json.decode('{"x": {"b": 1, "b": 1}}') end, {"duplicate object key"})
  end)

  it("rejects text that is not JSON, naming where", function()
    H.assert_error_has(function() json.decode("") end, {"json.decode: "})
    H.assert_error_has(function() json.decode("{") end, {"json.decode: ", "(line 1, column"})
    H.assert_error_has(function() json.decode("[1, 2,]") end, {"json.decode: "})
    H.assert_error_has(function() json.decode("{'a': 1}") end, {"json.decode: "})
    H.assert_error_has(function() json.decode("[1]\n[2]") end, {"json.decode: ", "line 2"})
    H.assert_error_has(function() json.decode("NaN") end, {"json.decode: "})
    H.assert_error_has(function() json.decode('"\255"') end, {"json.decode: "})
    H.assert_error_has(function() json.decode("99999999999999999999") end, {"json.decode: ", "too big"})
    H.assert_error_has(function() json.decode(("["):rep(3000) .. ("]"):rep(3000)) end, {"json.decode: ", "depth"})
    H.assert_error_has(function() json.decode({}) end, {"bad argument #1", "string expected"})
  end)
end)
