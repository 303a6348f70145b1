// The test classes share one Zaqar bed, whose zaqar-server (wsgiref) serves one request at a time.
// The file transfer tests post many large chunk commands at once; run alongside the other class they
// make its posts meet closed connections ("broken pipe"), so the classes take turns.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
