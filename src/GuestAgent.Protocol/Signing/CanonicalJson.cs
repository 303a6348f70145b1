using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Utf8Text = System.Text.Unicode.Utf8;

namespace GuestAgent.Protocol.Signing;

/// <summary>
/// The canonical form that signatures cover: exactly the bytes of Python's
/// <c>json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')</c>
/// for the object as Python's <c>json.loads</c> reads it. Matching Python byte for byte is the point:
/// a controller in any language gets it from its standard library (or these few rules), and the
/// form is computed from the parsed document, so fields this version does not know are covered too.
/// </summary>
public static class CanonicalJson
{
    // Strict: a lone surrogate cannot be encoded, and Python would refuse it too.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The canonical UTF-8 bytes of <paramref name="value"/>; with <paramref name="omitTopLevel"/>, that
    /// top-level member is left out (the signature itself).
    /// </summary>
    /// <exception cref="FormatException">The value has no canonical form (a lone surrogate, a number beyond double range).</exception>
    public static byte[] Serialize(JsonElement value, string? omitTopLevel = null)
    {
        var output = new ArrayBufferWriter<byte>(256);
        WriteTo(output, value, omitTopLevel);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Writes the canonical UTF-8 bytes of <paramref name="value"/> to <paramref name="output"/> (see <see cref="Serialize"/>).</summary>
    /// <exception cref="FormatException">The value has no canonical form (a lone surrogate, a number beyond double range).</exception>
    public static void WriteTo(IBufferWriter<byte> output, JsonElement value, string? omitTopLevel = null)
    {
        try
        {
            Write(output, value, omitTopLevel);
        }
        catch (Exception e) when (e is InvalidOperationException or EncoderFallbackException)
        {
            throw new FormatException("The JSON holds a string that is not valid Unicode (an unpaired surrogate); it cannot be signed.", e);
        }
    }

    private static void Write(IBufferWriter<byte> output, JsonElement value, string? omit)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                output.Write("{"u8);
                var first = true;
                // Python sorts str keys by code point; ordinal UTF-8 byte order is the same order
                // (UTF-16 ordinal order is not, for characters above U+FFFF).
                foreach (var property in value.EnumerateObject()
                    .Where(p => omit is null || p.Name != omit)
                    .OrderBy(p => Utf8.GetBytes(p.Name), ByteOrder.Instance))
                {
                    if (!first)
                    {
                        output.Write(","u8);
                    }
                    first = false;
                    WriteString(output, property.Name);
                    output.Write(":"u8);
                    Write(output, property.Value, null);
                }
                output.Write("}"u8);
                break;
            case JsonValueKind.Array:
                output.Write("["u8);
                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    if (i++ > 0)
                    {
                        output.Write(","u8);
                    }
                    Write(output, item, null);
                }
                output.Write("]"u8);
                break;
            case JsonValueKind.String:
                // A string written with no escape at all is already in canonical form, quotes
                // included: Python escapes only '"', '\' and C0 controls, none of which JSON lets
                // stand unescaped. So a file chunk's third of a megabyte of base64 is copied as it is.
                var raw = JsonMarshal.GetRawUtf8Value(value);
                if (raw.IndexOf((byte)'\\') < 0)
                {
                    if (!Utf8Text.IsValid(raw))
                    {
                        throw new InvalidOperationException("The JSON holds a string that is not valid UTF-8.");
                    }
                    output.Write(raw);
                }
                else
                {
                    WriteString(output, value.GetString()!);
                }
                break;
            case JsonValueKind.Number:
                output.Write(Encoding.ASCII.GetBytes(Number(value.GetRawText())));
                break;
            case JsonValueKind.True:
                output.Write("true"u8);
                break;
            case JsonValueKind.False:
                output.Write("false"u8);
                break;
            case JsonValueKind.Null:
                output.Write("null"u8);
                break;
            default:
                throw new FormatException($"Cannot canonicalise a JSON {value.ValueKind}.");
        }
    }

    private static void WriteString(IBufferWriter<byte> output, string s)
    {
        var text = new StringBuilder(s.Length + 2);
        WriteString(text, s);
        output.Write(Utf8.GetBytes(text.ToString()));
    }

    /// <summary>Python's escaping with ensure_ascii=False: only '"', '\' and C0 controls.</summary>
    private static void WriteString(StringBuilder text, string s)
    {
        text.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case < ' ': text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: text.Append(c); break;
            }
        }
        text.Append('"');
    }

    /// <summary>
    /// A number as Python writes it back: a literal without fraction or exponent is an int (its
    /// digits, any size; "-0" is 0); any other is a float, written as Python's <c>repr</c>
    /// (shortest round-trip digits; exponent form when the decimal exponent is below -4 or above 15).
    /// </summary>
    public static string Number(string literal)
    {
        if (literal.IndexOfAny(['.', 'e', 'E']) < 0)
        {
            return literal == "-0" ? "0" : literal;
        }
        var d = double.Parse(literal, NumberStyles.Float, CultureInfo.InvariantCulture);
        return double.IsFinite(d)
            ? PythonFloatRepr(d)
            : throw new FormatException($"The number {literal} is beyond the range of a double; it cannot be signed.");
    }

    /// <summary>Python's <c>repr(float)</c>.</summary>
    public static string PythonFloatRepr(double d)
    {
        if (d == 0)
        {
            return double.IsNegative(d) ? "-0.0" : "0.0";
        }
        // "R" is the shortest round-trip form (as Python's repr): only the layout differs.
        var r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        var e = r.IndexOfAny(['E', 'e']);
        var mantissa = e < 0 ? r : r[..e];
        var exponent = e < 0 ? 0 : int.Parse(r[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var dot = mantissa.IndexOf('.');
        var digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        var point = (dot < 0 ? mantissa.Length : dot) + exponent;
        var lead = digits.Length - digits.TrimStart('0').Length;
        digits = digits[lead..].TrimEnd('0');
        point -= lead;
        // value = 0.<digits> * 10^point, as Python's decpt.
        var s = new StringBuilder(d < 0 ? "-" : "");
        if (point <= -4 || point > 16)
        {
            s.Append(digits[0]);
            if (digits.Length > 1)
            {
                s.Append('.').Append(digits, 1, digits.Length - 1);
            }
            var x = point - 1;
            s.Append('e').Append(x < 0 ? '-' : '+').Append(Math.Abs(x).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (point <= 0)
        {
            s.Append("0.").Append('0', -point).Append(digits);
        }
        else if (point >= digits.Length)
        {
            s.Append(digits).Append('0', point - digits.Length).Append(".0");
        }
        else
        {
            s.Append(digits, 0, point).Append('.').Append(digits, point, digits.Length - point);
        }
        return s.ToString();
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
