using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace GuestAgent.Zaqar;

/// <summary>
/// Reads a Zaqar response that carries message bodies so that no body can fail it. Zaqar stores
/// whatever its own JSON reader took: bodies nested deeper than a strict reader allows, or holding
/// <c>NaN</c> / <c>Infinity</c>, which are not JSON. Parsed as one document, one such body made a whole
/// claim unreadable, so none of its messages was ever answered or deleted. Here every member named
/// <c>body</c> is cut out of the text before the envelope (Zaqar's own ids, hrefs and numbers) is
/// parsed, and each body is judged on its own by <see cref="ReadBody"/>.
/// </summary>
internal static class MessageEnvelope
{
    /// <summary>
    /// Deep enough for anything Zaqar's own reader accepts (Python's recursion limit, about 1000), so
    /// that only bodies that are not JSON at all end with a <see cref="QueueMessage.BodyError"/>.
    /// </summary>
    internal const int MaxBodyDepth = 1024;

    private static readonly JsonDocumentOptions BodyOptions = new() { MaxDepth = MaxBodyDepth };

    /// <summary>
    /// The envelope with each <c>body</c> member's value replaced by its index in <c>Bodies</c>
    /// (the raw UTF-8 JSON of each body, in order, as slices of <paramref name="utf8"/>: no body is
    /// copied here). The scan works on bytes: every character it looks for is ASCII, and no byte
    /// of a multi-byte UTF-8 sequence can be mistaken for one.
    /// </summary>
    internal static (JsonElement Envelope, IReadOnlyList<ReadOnlyMemory<byte>> Bodies) Parse(ReadOnlyMemory<byte> utf8)
    {
        var bodies = new List<ReadOnlyMemory<byte>>();
        var text = utf8.Span;
        var envelope = new ArrayBufferWriter<byte>(Math.Min(Math.Max(text.Length, 1), 4096));
        var i = 0;
        while (i < text.Length)
        {
            var quote = text[i..].IndexOf((byte)'"');
            if (quote < 0)
            {
                envelope.Write(text[i..]);
                break;
            }
            envelope.Write(text.Slice(i, quote));
            i += quote;
            var end = SkipString(text, i);
            var isBodyKey = end - i == 6 && text.Slice(i + 1, 4).SequenceEqual("body"u8);
            envelope.Write(text[i..end]);
            i = end;
            if (!isBodyKey)
            {
                continue;
            }
            var colon = SkipWhitespace(text, i);
            if (colon >= text.Length || text[colon] != (byte)':')
            {
                // A value "body", not a member name.
                continue;
            }
            var start = SkipWhitespace(text, colon + 1);
            var valueEnd = SkipValue(text, start);
            envelope.Write(":"u8);
            envelope.Write(Encoding.ASCII.GetBytes(bodies.Count.ToString(CultureInfo.InvariantCulture)));
            bodies.Add(utf8[start..valueEnd]);
            i = valueEnd;
        }
        try
        {
            using var doc = JsonDocument.Parse(envelope.WrittenMemory);
            return (doc.RootElement.Clone(), bodies);
        }
        catch (JsonException e)
        {
            throw new ZaqarProtocolException($"Zaqar's response is not valid JSON outside its message bodies: {e.Message}");
        }
    }

    /// <summary>
    /// Why a body is not JSON this client can read, or null when it is. Only checked here, by the
    /// reader a document parse runs (the same verdicts, without building the document): the
    /// element is made from the same bytes when it is first asked for (<see cref="ReadElement"/>).
    /// </summary>
    internal static string? CheckBody(ReadOnlyMemory<byte> raw)
    {
        try
        {
            var reader = new Utf8JsonReader(raw.Span, new JsonReaderOptions { MaxDepth = MaxBodyDepth });
            while (reader.Read())
            {
            }
            return null;
        }
        catch (JsonException e)
        {
            return $"the message body is not JSON this client can read ({e.Message})";
        }
    }

    /// <summary>A body that <see cref="CheckBody"/> passed, as an element of its own.</summary>
    internal static JsonElement ReadElement(ReadOnlyMemory<byte> raw)
    {
        using var doc = JsonDocument.Parse(raw, BodyOptions);
        return doc.RootElement.Clone();
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> text, int i)
    {
        while (i < text.Length && text[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            i++;
        }
        return i;
    }

    /// <summary>The index just past the string that starts at <paramref name="i"/> (a '"').</summary>
    private static int SkipString(ReadOnlySpan<byte> text, int i)
    {
        for (var j = i + 1; j < text.Length; j++)
        {
            var next = text[j..].IndexOfAny((byte)'\\', (byte)'"');
            if (next < 0)
            {
                break;
            }
            j += next;
            if (text[j] == (byte)'\\')
            {
                j++;
            }
            else
            {
                return j + 1;
            }
        }
        throw new ZaqarProtocolException("Zaqar's response ends inside a string.");
    }

    /// <summary>
    /// The index just past the value that starts at <paramref name="i"/>, whatever its depth and
    /// whatever tokens it holds: strings are skipped whole, brackets counted, anything else (numbers,
    /// literals, NaN, Infinity) runs to the next delimiter.
    /// </summary>
    private static int SkipValue(ReadOnlySpan<byte> text, int i)
    {
        if (i >= text.Length)
        {
            throw new ZaqarProtocolException("Zaqar's response ends before a message body.");
        }
        if (text[i] == (byte)'"')
        {
            return SkipString(text, i);
        }
        if (text[i] is (byte)'{' or (byte)'[')
        {
            var depth = 0;
            for (var j = i; j < text.Length; j++)
            {
                switch (text[j])
                {
                    case (byte)'"':
                        j = SkipString(text, j) - 1;
                        break;
                    case (byte)'{' or (byte)'[':
                        depth++;
                        break;
                    case (byte)'}' or (byte)']':
                        if (--depth == 0)
                        {
                            return j + 1;
                        }
                        break;
                }
            }
            throw new ZaqarProtocolException("Zaqar's response ends inside a message body.");
        }
        var k = i;
        while (k < text.Length && text[k] is not ((byte)',' or (byte)'}' or (byte)']' or (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
        {
            k++;
        }
        return k == i ? throw new ZaqarProtocolException("Zaqar's response has a message body with no value.") : k;
    }
}
