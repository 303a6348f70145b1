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
    /// (the raw JSON text of each body, in order, as slices of <paramref name="text"/>: a body is
    /// copied only when it is parsed, or kept as text because it does not parse).
    /// </summary>
    internal static (JsonElement Envelope, IReadOnlyList<ReadOnlyMemory<char>> Bodies) Parse(string text)
    {
        var bodies = new List<ReadOnlyMemory<char>>();
        var envelope = new StringBuilder(Math.Min(text.Length, 4096));
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c != '"')
            {
                envelope.Append(c);
                i++;
                continue;
            }
            var end = SkipString(text, i);
            var isBodyKey = end - i == 6 && string.CompareOrdinal(text, i + 1, "body", 0, 4) == 0;
            envelope.Append(text, i, end - i);
            i = end;
            if (!isBodyKey)
            {
                continue;
            }
            var colon = SkipWhitespace(text, i);
            if (colon >= text.Length || text[colon] != ':')
            {
                // A value "body", not a member name.
                continue;
            }
            var start = SkipWhitespace(text, colon + 1);
            var valueEnd = SkipValue(text, start);
            envelope.Append(':').Append(bodies.Count);
            bodies.Add(text.AsMemory(start, valueEnd - start));
            i = valueEnd;
        }
        try
        {
            using var doc = JsonDocument.Parse(envelope.ToString());
            return (doc.RootElement.Clone(), bodies);
        }
        catch (JsonException e)
        {
            throw new ZaqarProtocolException($"Zaqar's response is not valid JSON outside its message bodies: {e.Message}");
        }
    }

    /// <summary>A body as an element, or why it is not JSON this client can read.</summary>
    internal static (JsonElement Body, string? Error) ReadBody(ReadOnlyMemory<char> raw)
    {
        try
        {
            using var doc = JsonDocument.Parse(raw, BodyOptions);
            return (doc.RootElement.Clone(), null);
        }
        catch (JsonException e)
        {
            return (default, $"the message body is not JSON this client can read ({e.Message})");
        }
    }

    private static int SkipWhitespace(string text, int i)
    {
        while (i < text.Length && text[i] is ' ' or '\t' or '\r' or '\n')
        {
            i++;
        }
        return i;
    }

    /// <summary>The index just past the string that starts at <paramref name="i"/> (a '"').</summary>
    private static int SkipString(string text, int i)
    {
        for (var j = i + 1; j < text.Length; j++)
        {
            if (text[j] == '\\')
            {
                j++;
            }
            else if (text[j] == '"')
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
    private static int SkipValue(string text, int i)
    {
        if (i >= text.Length)
        {
            throw new ZaqarProtocolException("Zaqar's response ends before a message body.");
        }
        if (text[i] == '"')
        {
            return SkipString(text, i);
        }
        if (text[i] is '{' or '[')
        {
            var depth = 0;
            for (var j = i; j < text.Length; j++)
            {
                switch (text[j])
                {
                    case '"':
                        j = SkipString(text, j) - 1;
                        break;
                    case '{' or '[':
                        depth++;
                        break;
                    case '}' or ']':
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
        while (k < text.Length && text[k] is not (',' or '}' or ']' or ' ' or '\t' or '\r' or '\n'))
        {
            k++;
        }
        return k == i ? throw new ZaqarProtocolException("Zaqar's response has a message body with no value.") : k;
    }
}
