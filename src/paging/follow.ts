/**
 * Client side of paging: requests page after page until the host returns no next_page_token, and
 * hands back every page's response. A host repeating a token would loop forever: that is an error.
 */
export async function followPages<R extends { nextPageToken: string }>(fetchPage: (pageToken: string) => Promise<R>): Promise<R[]> {
  const pages: R[] = [];
  const seen = new Set<string>();
  let token = "";
  do {
    const page = await fetchPage(token);
    pages.push(page);
    token = page.nextPageToken;
    if (seen.has(token)) throw new Error("paging: the host returned a page token twice");
    seen.add(token);
  } while (token !== "");
  return pages;
}
