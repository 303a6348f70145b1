using System.Text.Json.Nodes;

namespace GuestAgent.Protocol.Tests;

/// <summary>Well-formed command bodies to start from; tests spoil one thing each.</summary>
internal static class Bodies
{
    public const string Id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    public const string ReplyTo = "replies-vm1";

    public static readonly DateTimeOffset IssuedAt = new(2026, 11, 25, 13, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset ExpiresAt = IssuedAt.AddMinutes(10);

    /// <summary>A minute after issue: well inside the validity window.</summary>
    public static readonly DateTimeOffset Now = IssuedAt.AddMinutes(1);

    public static JsonObject Exec(JsonObject? args = null) => new()
    {
        ["v"] = 1,
        ["id"] = Id,
        ["op"] = "exec",
        ["mode"] = "call",
        ["reply_to"] = ReplyTo,
        ["issued_at"] = "2026-11-25T13:00:00Z",
        ["expires_at"] = "2026-11-25T13:10:00Z",
        ["on_interrupt"] = "fail",
        ["args"] = args ?? new JsonObject { ["argv"] = new JsonArray("/bin/echo", "hi") },
        ["sig"] = new JsonObject { ["kid"] = "k1", ["mac"] = "c2lnbmF0dXJl" },
    };

    public static JsonObject Op(string op, JsonObject? args = null)
    {
        var body = Exec(args ?? []);
        body["op"] = op;
        return body;
    }

    public static CommandParseResult Parse(JsonNode body, DateTimeOffset? now = null, ProtocolLimits? limits = null) =>
        CommandParser.Parse(body.ToJsonString(), now ?? Now, limits);

    public static CommandRejection Rejected(JsonNode body, DateTimeOffset? now = null, ProtocolLimits? limits = null) =>
        Rejected(body.ToJsonString(), now, limits);

    public static CommandRejection Rejected(string json, DateTimeOffset? now = null, ProtocolLimits? limits = null)
    {
        var result = CommandParser.Parse(json, now ?? Now, limits);
        Assert.False(result.IsAccepted, $"Expected a rejection of {json}");
        return result.Rejection;
    }

    public static Command Accepted(JsonNode body, DateTimeOffset? now = null, ProtocolLimits? limits = null)
    {
        var result = Parse(body, now, limits);
        Assert.True(result.IsAccepted, $"Expected acceptance, got {result.Rejection}");
        return result.Command;
    }
}
