using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;

namespace GuestAgent.Protocol;

/// <summary>The one JSON configuration of the protocol, shared by everything that reads or writes it.</summary>
public static partial class ProtocolJson
{
    /// <summary>
    /// snake_case names, enums as snake_case strings, nulls left out, RFC 3339 UTC timestamps.
    /// Reading is strict about what a type declares (required constructor parameters, nullability,
    /// duplicate properties) and ignores properties it does not know, for forward compatibility.
    /// </summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    /// <summary>For hand-written JSON (<see cref="CommandWriter"/>); escapes like <see cref="Options"/>.</summary>
    public static JsonWriterOptions WriterOptions { get; } = new() { Encoder = Encoder };

    internal static JsonDocumentOptions DocumentOptions { get; } = new()
    {
        // Two values for one name let a signer and an executor read different commands.
        AllowDuplicateProperties = false,
        MaxDepth = 64,
    };

    // The default encoder escapes '+' (six bytes for one) and all non-ASCII; that would break the
    // base64 size arithmetic of chunks. Nothing here is embedded in HTML, so the relaxed one is safe.
    internal static JavaScriptEncoder Encoder => JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Encoder = Encoder,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            AllowDuplicateProperties = false,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
            Converters =
            {
                new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false),
                new TimestampConverter(),
            },
        };
        options.MakeReadOnly();
        return options;
    }

    /// <summary>Serialises with <see cref="Options"/> into a detached element (e.g. a reply's <c>result</c>).</summary>
    public static JsonElement ToElement<T>(T value) => JsonSerializer.SerializeToElement(value, Options);

    /// <summary>RFC 3339 in UTC with 'Z' and only as many fraction digits as needed (at most 7).</summary>
    public static string FormatTimestamp(DateTimeOffset timestamp) =>
        timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// Reads an RFC 3339 date-time. Any explicit offset is accepted and converted to UTC (Python's
    /// <c>isoformat()</c> writes "+00:00"); a time without a zone is refused because it is ambiguous.
    /// Fractions beyond 7 digits (Go writes 9) are truncated to .NET's 100 ns resolution.
    /// </summary>
    public static bool TryParseTimestamp(string? text, out DateTimeOffset timestamp)
    {
        timestamp = default;
        var m = text is null ? Match.Empty : Rfc3339().Match(text);
        if (!m.Success)
        {
            return false;
        }
        int Part(string name) => int.Parse(m.Groups[name].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);
        try
        {
            var offset = TimeSpan.Zero;
            if (m.Groups["oh"].Success)
            {
                if (Part("om") > 59)
                {
                    return false;
                }
                offset = new TimeSpan(Part("oh"), Part("om"), 0);
                if (m.Groups["sign"].ValueSpan[0] == '-')
                {
                    offset = -offset;
                }
            }
            var t = new DateTimeOffset(Part("y"), Part("mo"), Part("d"), Part("h"), Part("mi"), Part("s"), offset);
            if (m.Groups["f"].Success)
            {
                var digits = m.Groups["f"].Value.PadRight(7, '0')[..7];
                t = t.AddTicks(long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture));
            }
            timestamp = t.ToUniversalTime();
            return true;
        }
        catch (ArgumentException)
        {
            // Out-of-range parts: month 13, February 30, offset beyond ±14 h, a leap second.
            return false;
        }
    }

    // [0-9], not \d: \d also matches non-ASCII digits, which int.Parse would then choke on.
    // \z, not $: $ also matches before a trailing newline.
    [GeneratedRegex(
        @"^(?<y>[0-9]{4})-(?<mo>[0-9]{2})-(?<d>[0-9]{2})[Tt](?<h>[0-9]{2}):(?<mi>[0-9]{2}):(?<s>[0-9]{2})(\.(?<f>[0-9]{1,9}))?([Zz]|(?<sign>[+-])(?<oh>[0-9]{2}):(?<om>[0-9]{2}))\z",
        RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture)]
    private static partial Regex Rfc3339();

    private sealed class TimestampConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.String && TryParseTimestamp(reader.GetString(), out var t)
                ? t
                : throw new JsonException("Expected an RFC 3339 timestamp with a zone, e.g. \"2026-11-25T13:00:00Z\".");

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteStringValue(FormatTimestamp(value));
    }
}
