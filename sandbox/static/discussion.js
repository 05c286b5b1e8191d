'use strict';
// The forum's live pages. Everything people wrote is inserted as text, never as HTML.
document.addEventListener('DOMContentLoaded', () => {
  const page = document.body.dataset.page;
  const node = (tag, className, text) => {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  };

  if (page === 'discussion-home') {
    const list = document.getElementById('topicList');
    function card(topic) {
      const item = node('li', 'topic');
      item.dataset.topicId = topic.id;
      const stats = node('div', 'stats');
      for (const [value, label, className] of [[topic.voteCount, ' votes', 'vote-score'], [topic.replyCount, ' answers', 'reply-count'], [topic.viewCount, ' views', '']]) {
        const span = node('span');
        span.append(node('strong', className, String(value)), label);
        stats.append(span);
      }
      const summary = node('div', 'summary');
      const link = node('a', 'title', topic.title);
      link.href = `/discussion/${topic.id}/`;
      const badge = node('span', 'badge answered', 'Answered');
      badge.hidden = !topic.hasAcceptedAnswer;
      const fresh = node('span', 'badge new-answers', 'New answers');
      fresh.hidden = true;
      summary.append(link, ' ', badge, ' ', fresh, node('div', 'muted', `asked by ${topic.author.email} · ${topic.formattedCreatedAt}`));
      item.append(stats, summary);
      return item;
    }
    const find = (id) => list.querySelector(`[data-topic-id="${id}"]`);
    let loaded = list.querySelectorAll('[data-topic-id]').length;
    document.getElementById('loadMore')?.addEventListener('click', async (event) => {
      try {
        const page = await sandbox.api(`/api/discussion/?limit=20&offset=${loaded}`);
        for (const topic of page.results) {
          if (!find(topic.id)) list.append(card(topic));
          follow(topic.id);
        }
        loaded += page.results.length;
        if (!page.next) event.target.remove();
      } catch (error) {
        sandbox.notify(error.message, 'error');
      }
    });
    // The list's one socket also follows every question the list shows, each as the chanx topic
    // `discussion:{id}`, so that new answers raise its count as they are posted. The server
    // forgets subscriptions with the socket: they are sent again on each (re)connection.
    const followed = new Set([...list.querySelectorAll('[data-topic-id]')].map((item) => Number(item.dataset.topicId)));
    let connected = false;
    let ref = 0;
    const send = (action, id) => socket.socket.send(JSON.stringify({ action, version: 1, topic: `discussion:${id}`, ref: String(++ref) }));
    function follow(id) {
      if (followed.has(id)) return;
      followed.add(id);
      if (connected) send('subscribe', id);
    }
    function unfollow(id) {
      if (followed.delete(id) && connected) send('unsubscribe', id);
    }
    function onTopicFrame({ action, topic, payload }) {
      const item = find(topic.slice('discussion:'.length));
      if (!item) return;
      if (action === 'subscribed') item.dataset.following = 'true';
      else if (action === 'unsubscribed' || action === 'error') delete item.dataset.following;
      else if (action === 'reply_created') {
        const count = item.querySelector('.reply-count');
        count.textContent = Number(count.textContent) + 1;
        item.querySelector('.new-answers').hidden = false;
      } else if (action === 'reply_deleted') {
        // The new count, not a decrement: right even after a missed frame.
        item.querySelector('.reply-count').textContent = payload.replyCount;
        if (payload.wasAccepted) item.querySelector('.answered').hidden = true;
      }
    }
    const socket = sandbox.live('/ws/discussion/', {
      onStatus(state) {
        sandbox.showStatus(state);
        connected = state === 'connected';
        if (connected) for (const id of followed) send('subscribe', id);
        else for (const item of list.querySelectorAll('[data-following]')) delete item.dataset.following;
      },
      onMessage({ action, payload, topic }) {
        if (topic) {
          onTopicFrame({ action, topic, payload });
        } else if (action === 'topic_created') {
          list.querySelector('.empty')?.remove();
          if (!find(payload.id)) list.prepend(card(payload));
          follow(payload.id);
          sandbox.notify(`New topic: "${payload.title}" by ${payload.author.email}`, 'info');
        } else if (action === 'vote_updated' && payload.targetType === 'topic') {
          const score = find(payload.targetId)?.querySelector('.vote-score');
          if (score) score.textContent = payload.voteCount;
        } else if (action === 'answer_accepted' || action === 'answer_unaccepted') {
          const item = find(payload.topicId);
          if (!item) return;
          item.querySelector('.answered').hidden = action === 'answer_unaccepted';
          list.prepend(item);
        } else if (action === 'topic_updated') {
          const title = find(payload.topicId)?.querySelector('.title');
          if (title) title.textContent = payload.title;
        } else if (action === 'topic_deleted') {
          const item = find(payload.topicId);
          unfollow(payload.topicId);
          if (!item) return;
          item.remove();
          loaded -= 1;
          sandbox.notify(`Topic deleted: "${payload.topicTitle}"`, 'info');
        }
      },
    });
  }

  if (page === 'discussion-topic') {
    const topicId = Number(document.body.dataset.topicId);
    const me = Number(document.body.dataset.userId);
    const isTopicAuthor = document.body.dataset.topicAuthor === 'true';
    const replies = document.getElementById('replies');

    function voteButtons(type, id, count, myVote) {
      const box = node('div', 'vote-buttons');
      Object.assign(box.dataset, { targetType: type, targetId: id, myVote });
      const up = node('button', 'vote-btn', '▲');
      const down = node('button', 'vote-btn', '▼');
      up.type = down.type = 'button';
      up.dataset.vote = '1';
      down.dataset.vote = '-1';
      box.append(up, node('strong', 'vote-score-display', String(count)), down);
      return box;
    }
    function showMyVote(box) {
      for (const button of box.querySelectorAll('.vote-btn')) button.classList.toggle('chosen', button.dataset.vote === box.dataset.myVote);
    }
    document.querySelectorAll('.vote-buttons').forEach(showMyVote);

    // The author's Edit and Delete buttons of a post, as the template renders them.
    function ownerActions() {
      const actions = node('div', 'row owner-actions');
      for (const [className, text] of [['edit-btn secondary', 'Edit'], ['delete-btn danger', 'Delete']]) {
        const button = node('button', className, text);
        button.type = 'button';
        actions.append(button);
      }
      return actions;
    }

    function replyCard(reply) {
      const card = node('div', 'post reply');
      card.dataset.replyId = reply.id;
      const body = node('div', 'body');
      const badge = node('span', 'badge accepted-badge', 'Accepted answer');
      badge.hidden = true;
      body.append(badge, node('div', 'text', reply.content), node('div', 'muted', `answered by ${reply.author.email} · ${reply.formattedCreatedAt}`));
      if (isTopicAuthor && reply.author.id !== me) {
        const accept = node('button', 'accept-btn secondary', 'Accept');
        accept.type = 'button';
        accept.dataset.replyId = reply.id;
        body.append(accept);
      }
      if (reply.author.id === me) body.append(ownerActions());
      card.append(voteButtons('reply', reply.id, reply.voteCount, '0'), body);
      return card;
    }

    const replyPath = (id) => `/api/discussion/${topicId}/replies/${id}/`;
    const findReply = (id) => replies.querySelector(`.reply[data-reply-id="${id}"]`);
    function countAnswers() {
      const count = replies.querySelectorAll('.reply').length;
      document.getElementById('answerCount').textContent = count;
      if (count === 0 && !document.getElementById('noAnswers')) {
        const empty = node('p', 'muted empty', 'No answers yet. Be the first to help!');
        empty.id = 'noAnswers';
        replies.append(empty);
      }
    }
    function showTopic({ title, content }) {
      document.getElementById('topicTitle').textContent = title;
      document.getElementById('topicContent').textContent = content;
      document.title = `${title} · Discussions`;
    }
    function removeReply(id) {
      findReply(id)?.remove();
      countAnswers();
    }
    // The topic is gone: the page says so in place of its content (its socket is closed).
    function topicGone(title, byMe) {
      if (document.getElementById('topicDeleted')) return;
      for (const section of document.querySelectorAll('main section.card')) section.hidden = true;
      const gone = node('section', 'card');
      gone.id = 'topicDeleted';
      const back = node('a', '', 'Back to the discussions');
      back.href = '/discussion/';
      gone.append(node('h1', '', 'This question was deleted'), node('p', 'muted', `"${title}" ${byMe ? 'was deleted.' : 'was deleted by its author or a moderator.'}`), back);
      document.querySelector('main').append(gone);
    }

    // Edits in place: the post's text becomes a form until it is saved or cancelled. The page
    // shows what the server answered; the other pages hear of it over their sockets.
    function startEditing(post) {
      if (post.querySelector('.edit-form')) return;
      const isTopic = !post.classList.contains('reply');
      const form = node('form', 'edit-form');
      let titleInput;
      if (isTopic) {
        titleInput = node('input');
        Object.assign(titleInput, { name: 'title', maxLength: 200, required: true, value: document.getElementById('topicTitle').textContent });
        form.append(titleInput);
      }
      const text = node('textarea');
      Object.assign(text, { name: 'content', rows: 5, maxLength: 20000, required: true, value: post.querySelector('.text').textContent });
      const save = node('button', '', 'Save');
      save.type = 'submit';
      const cancel = node('button', 'secondary', 'Cancel');
      cancel.type = 'button';
      cancel.addEventListener('click', () => form.remove());
      form.append(text, save, cancel);
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        try {
          if (isTopic) {
            showTopic(await sandbox.api(`/api/discussion/${topicId}/`, { method: 'PATCH', body: JSON.stringify({ title: titleInput.value, content: text.value }) }));
          } else {
            const saved = await sandbox.api(replyPath(post.dataset.replyId), { method: 'PATCH', body: JSON.stringify({ content: text.value }) });
            post.querySelector('.text').textContent = saved.content;
          }
          form.remove();
        } catch (error) {
          sandbox.notify(error.message, 'error');
        }
      });
      post.querySelector('.owner-actions').after(form);
    }

    async function deletePost(post) {
      const isTopic = !post.classList.contains('reply');
      if (!confirm(isTopic ? 'Delete this question and its answers?' : 'Delete this answer?')) return;
      if (isTopic) {
        const title = document.getElementById('topicTitle').textContent;
        await sandbox.api(`/api/discussion/${topicId}/`, { method: 'DELETE' });
        topicGone(title, true);
      } else {
        await sandbox.api(replyPath(post.dataset.replyId), { method: 'DELETE' });
        removeReply(Number(post.dataset.replyId));
      }
    }

    function markAccepted(replyId, accepted) {
      for (const card of replies.querySelectorAll('.reply')) {
        const on = accepted && Number(card.dataset.replyId) === replyId;
        card.classList.toggle('accepted', on);
        card.querySelector('.accepted-badge').hidden = !on;
        const button = card.querySelector('.accept-btn');
        if (button) button.textContent = on ? 'Unaccept' : 'Accept';
      }
    }

    document.addEventListener('click', async (event) => {
      const vote = event.target.closest('.vote-btn');
      const accept = event.target.closest('.accept-btn');
      const edit = event.target.closest('.edit-btn');
      const remove = event.target.closest('.delete-btn');
      try {
        if (edit) startEditing(edit.closest('.post'));
        if (remove) await deletePost(remove.closest('.post'));
        if (vote) {
          const box = vote.closest('.vote-buttons');
          // Clicking your current vote again withdraws it.
          const value = box.dataset.myVote === vote.dataset.vote ? 0 : Number(vote.dataset.vote);
          const path = box.dataset.targetType === 'topic'
            ? `/api/discussion/${topicId}/vote/`
            : `/api/discussion/${topicId}/replies/${box.dataset.targetId}/vote/`;
          const result = await sandbox.api(path, { method: 'POST', body: JSON.stringify({ vote: value }) });
          box.dataset.myVote = String(result.vote);
          box.querySelector('.vote-score-display').textContent = result.voteCount;
          showMyVote(box);
        } else if (accept) {
          const accepting = accept.textContent === 'Accept';
          await sandbox.api(`/api/discussion/${topicId}/${accepting ? 'accept-answer' : 'unaccept-answer'}/`, {
            method: 'POST', body: JSON.stringify({ replyId: Number(accept.dataset.replyId) }),
          });
        }
      } catch (error) {
        sandbox.notify(error.message, 'error');
      }
    });

    document.getElementById('answerForm').addEventListener('submit', async (event) => {
      event.preventDefault();
      const input = document.getElementById('newAnswerContent');
      const content = input.value.trim();
      if (!content) return;
      try {
        await sandbox.api(`/api/discussion/${topicId}/replies/`, { method: 'POST', body: JSON.stringify({ content }) });
        input.value = '';
      } catch (error) {
        sandbox.notify(error.message, 'error');
      }
    });

    sandbox.live(`/ws/discussion/${topicId}/`, {
      onStatus: sandbox.showStatus,
      onMessage({ action, payload }) {
        if (action === 'reply_created' && payload.topicId === topicId) {
          if (replies.querySelector(`[data-reply-id="${payload.id}"]`)) return;
          document.getElementById('noAnswers')?.remove();
          replies.append(replyCard(payload));
          countAnswers();
          if (payload.author.id !== me) sandbox.notify(`New answer by ${payload.author.email}`, 'info');
        } else if (action === 'vote_updated') {
          const box = document.querySelector(`.vote-buttons[data-target-type="${payload.targetType}"][data-target-id="${payload.targetId}"]`);
          if (box) box.querySelector('.vote-score-display').textContent = payload.voteCount;
        } else if (action === 'answer_accepted') {
          markAccepted(payload.replyId, true);
        } else if (action === 'answer_unaccepted') {
          markAccepted(payload.replyId, false);
        } else if (action === 'topic_updated' && payload.topicId === topicId) {
          showTopic(payload);
        } else if (action === 'reply_updated' && payload.topicId === topicId) {
          const text = findReply(payload.id)?.querySelector('.text');
          if (text) text.textContent = payload.content;
        } else if (action === 'reply_deleted' && payload.topicId === topicId) {
          removeReply(payload.id);
        } else if (action === 'topic_deleted' && payload.topicId === topicId) {
          topicGone(payload.topicTitle, false);
        }
      },
    });
  }
});
